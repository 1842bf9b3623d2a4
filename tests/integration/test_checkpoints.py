"""Checkpoints and resume through a real trainfs (SPEC "Checkpoints",
"control" resume, status "weights from", "checkpoint", "resumed",
trainfs.json "weights_from"), issue 10.

