# Writes the config.json fixtures of this folder with transformers' own save_pretrained, so they
# are exactly what transformers 5 writes (only the fields that differ from the class defaults).
# Run with a Python that has transformers (torch not needed):
#   .venv-golden/bin/python tests/data/transformers5/make_fixtures.py
import json
import os
import tempfile

import transformers as t

here = os.path.dirname(os.path.abspath(__file__))
small = dict(hidden_size=64, intermediate_size=128, num_attention_heads=8, num_key_value_heads=4,
             num_hidden_layers=2, vocab_size=1000, max_position_embeddings=512)
cases = {
    'llama': (t.LlamaConfig, dict(small)),
    'llama3-rope': (t.LlamaConfig, dict(small, rope_parameters={
        'rope_type': 'llama3', 'rope_theta': 500000.0, 'factor': 8.0, 'low_freq_factor': 1.0,
        'high_freq_factor': 4.0, 'original_max_position_embeddings': 64})),
    'llama-biases': (t.LlamaConfig, dict(small, attention_bias=True, mlp_bias=True)),
    'mistral': (t.MistralConfig, dict(small)),
    'mixtral': (t.MixtralConfig, dict(small, num_local_experts=4)),
    'qwen2': (t.Qwen2Config, dict(small, rope_parameters={'rope_type': 'default', 'rope_theta': 1000000.0})),
    'qwen2-yarn': (t.Qwen2Config, dict(small, rope_parameters={
        'rope_type': 'yarn', 'rope_theta': 1000000.0, 'factor': 4.0, 'original_max_position_embeddings': 128})),
    'qwen3': (t.Qwen3Config, dict(small, head_dim=16)),
    'qwen2-moe': (t.Qwen2MoeConfig, dict(small, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                          shared_expert_intermediate_size=48)),
    'qwen3-moe': (t.Qwen3MoeConfig, dict(small, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32)),
    'gpt2': (t.GPT2Config, dict(n_embd=48, n_head=6, n_layer=2, n_positions=256, vocab_size=1000)),
}
for name, (cls, kw) in cases.items():
    with tempfile.TemporaryDirectory() as d:
        cls(**kw).save_pretrained(d)
        cfg = json.load(open(os.path.join(d, 'config.json')))
    with open(os.path.join(here, name + '.json'), 'w') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')
    print(name, cfg.get('transformers_version'))
