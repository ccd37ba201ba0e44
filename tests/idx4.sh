# Sourced by tests: a tiny MNIST-like data set and circuit.
# idx4 DIR: DIR/img, four 2 x 2 IDX images (image k lights pixel k), and
# DIR/lab, their labels 0 1 0 1.
idx4() {
    printf '\000\000\010\003\000\000\000\004\000\000\000\002\000\000\000\002' >"$1/img"
    printf '\377\000\000\000\000\377\000\000\000\000\377\000\000\000\000\377' >>"$1/img"
    printf '\000\000\010\001\000\000\000\004\000\001\000\001' >"$1/lab"
}
# idx4_circuit DIR: the head of a circuit file on them (to stdout): four
# rate inputs onto two pyramids that learn (Eq. 7), the stimulus img
# driving the inputs with the labels as targets; simulation: follows.
idx4_circuit() {
    cat <<YAML
apical: 1
populations:
  input: {cell: rate_input, size: 4}
  out:   {cell: pyramidal, size: 2}
projections:
  - {from: input, to: out.basal, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 0.1}}}
stimuli:
  img: {kind: idx, images: $1/img, labels: $1/lab, drives: input, target: out}
YAML
}
# idx4_steady DIR: the tail of a circuit file on them (to stdout): the
# stimulus img driving the population input with targets {0.1, 0.8} for
# the population out, trained three epochs in the steady mode (batch 2).
idx4_steady() {
    cat <<YAML
stimuli:
  img: {kind: idx, images: $1/img, labels: $1/lab, drives: input, target: out,
        target_rates: [0.1, 0.8]}
simulation:
  mode: steady
  steady: {train: img, epochs: 3, evaluate: [img], batch: 2}
YAML
}
