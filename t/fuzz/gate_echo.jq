# The fuzzer's rule (t/fuzz/gate.c): whatever "checks" the input carries,
# so that every shape a rule file could produce reaches the judge in C.
.checks
