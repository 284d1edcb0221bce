"""Training-loop plumbing: run directories, checkpoints, logging, seeds and parallel runs."""
