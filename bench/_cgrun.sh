#!/bin/bash
# usage: _cgrun.sh file callers -> instructions per op (100k extra ops)
f=$1; c=${2:-1000}
a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null node _cg.mjs $f $c 0 2>&1 | grep "Collected" | awk '{print $4}')
b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null node _cg.mjs $f $c 100000 2>&1 | grep "Collected" | awk '{print $4}')
echo "$f: $(( (b - a) / 100000 )) instructions/op"
