"""`tunesmith models generate`: greedy answers from a base model and from base + adapter."""


def test_generate_base_and_adapter(tmp_path, tiny_model_dir, cli):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    code, base_answer, err = cli("models", "generate", "--model", tiny_model_dir, "--prompt", "hello world",
                                 "--max-new-tokens", "5")
    assert code == 0, err
    again = cli("models", "generate", "--model", tiny_model_dir, "--prompt", "hello world",
                "--max-new-tokens", "5")[1]
    assert again == base_answer   # greedy: the same answer twice

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "o_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 2.0)   # a far-from-zero adapter must change the answer
    peft_model.save_pretrained(tmp_path / "adapter")
    code, tuned_answer, err = cli("models", "generate", "--model", tiny_model_dir, "--adapter", tmp_path / "adapter",
                                  "--prompt", "hello world", "--max-new-tokens", "5")
    assert code == 0, err
    assert tuned_answer != base_answer


def test_generate_rejects_a_folder_without_adapter(tmp_path, tiny_model_dir, cli):
    code, _, err = cli("models", "generate", "--model", tiny_model_dir, "--adapter", tmp_path,
                       "--prompt", "hi")
    assert code == 2 and "adapter_config.json" in err
