//! The einsum spec string: `"mk,knp->mnp"`.
#![forbid(unsafe_code)]

use super::rules::{Api, MAX_MODES};
use crate::error::{Error, Result};

/// Mode labels (character codes) of A, B and C parsed from a spec.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    labels: [[i32; MAX_MODES]; 3],
    lens: [usize; 3],
}

impl Spec {
    /// The labels of tensor `t` (0 = A, 1 = B, 2 = C).
    pub(crate) fn modes(&self, t: usize) -> &[i32] {
        &self.labels[t][..self.lens[t]]
    }
}

/// Parses `"<A>,<B>-><C>"`: each part a run of letters `a-z A-Z`, one letter per mode (C may be
/// empty: a scalar). ASCII spaces are ignored. Errors name the spec argument (position 3).
pub(crate) fn parse(api: Api, spec: &str) -> Result<Spec> {
    let fail = |rule: String| -> Error { api.fail(3, "spec", format!("\"{spec}\" {rule}")) };
    let s: String = spec.chars().filter(|c| *c != ' ').collect();
    let Some((inputs, output)) = s.split_once("->") else {
        return Err(fail(
            "has no \"->\": the output modes must be explicit, as in \"mk,knp->mnp\"".into(),
        ));
    };
    let parts: Vec<&str> = inputs.split(',').collect();
    if parts.len() != 2 {
        return Err(fail(format!(
            "names {} input tensors before \"->\"; exactly two (A,B) are required",
            parts.len()
        )));
    }
    let mut out = Spec {
        labels: [[0; MAX_MODES]; 3],
        lens: [0; 3],
    };
    for (t, part) in [parts[0], parts[1], output].into_iter().enumerate() {
        for ch in part.chars() {
            if !ch.is_ascii_alphabetic() {
                return Err(fail(format!(
                    "contains '{ch}' in the modes of {}; modes are single letters a-z, A-Z",
                    ['A', 'B', 'C'][t]
                )));
            }
            if out.lens[t] == MAX_MODES {
                return Err(Error::NotSupported(format!(
                    "{}: \"{spec}\" gives {} more than {MAX_MODES} modes",
                    api.name(),
                    ['A', 'B', 'C'][t]
                )));
            }
            out.labels[t][out.lens[t]] = ch as i32;
            out.lens[t] += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let s = parse(Api::Einsum, "mk, knp -> mnp").unwrap();
        assert_eq!(s.modes(0), &['m' as i32, 'k' as i32]);
        assert_eq!(s.modes(2).len(), 3);
        let s = parse(Api::Einsum, "k,k->").unwrap();
        assert!(s.modes(2).is_empty());
        for bad in ["mk,kn", "mk->mk", "a,b,c->abc", "m1,1n->mn", "mk,kn=>mn", ""] {
            let e = parse(Api::Einsum, bad).unwrap_err();
            assert_eq!(e.position(), 3, "{bad}: {e}");
        }
    }
}
