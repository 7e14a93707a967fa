#!/bin/bash
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
N=${1:-3}
ARGS="/tmp/x300.npy --ranks 20,20,20 --n-iter-max 25 --tol 0"
sum() { python3 -c "
import json,sys
s=json.load(open('$1/summary.json'))
t=s['seconds']; p=s['sweep_seconds']
print('%-8s total %.3f init %.3f sweeps %.3f | passes %.3f products %.3f exchange %.3f factors %.3f | err %.12e' % ('$2', t['total'], t['init'], t['sweeps'], p['passes'], p['products'], p['exchange'], p['factors'], s['rec_errors'][-1]))
"; }
for i in $(seq 1 $N); do
  /tmp/tk_one $ARGS --out /tmp/o1 > /dev/null 2>&1; sum /tmp/o1 one; sleep 3
  mpirun -np 2 /tmp/tk_mpi_new2 $ARGS --out /tmp/o3 > /dev/null 2>&1; sum /tmp/o3 np2new; sleep 3
done
