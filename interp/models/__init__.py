"""Models in: loading a model by Hub name, folder or alias (`loading`), the pretrained antibody models
(`pretrained`), the embedded default model (`embedded_model`) and unwrapping PEFT, compiled and FSDP models (`compat`)."""
