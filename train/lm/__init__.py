"""The causal-LM runner behind train.hf_trainer and train.qlora: flags, data, model, collation, checkpoints, the run."""
