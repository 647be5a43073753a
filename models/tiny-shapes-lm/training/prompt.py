"""How tiny-shapes-lm's prompts reach its language model: Z-Image's chat template (Qwen3's for one
user message), padded to this many tokens."""
TEMPLATE = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
MAX_LENGTH = 24
