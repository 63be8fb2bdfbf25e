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

# Golden cases (tests/data/golden/t5-*.json, scripts/hf-golden): the golden models' shape, saved by
# transformers 5 (rope only in rope_parameters), and minimal files that leave every optional field
# to the class defaults (which llmthreads must then take as transformers does).
golden_dir = os.path.join(here, '..', 'golden')
shape = dict(hidden_size=64, intermediate_size=200, num_attention_heads=8, num_key_value_heads=4,
             num_hidden_layers=3, vocab_size=997, max_position_embeddings=512)
saved = {
    't5-llama3-rope': (t.LlamaConfig, dict(shape, head_dim=16, rope_parameters={
        'rope_type': 'llama3', 'rope_theta': 500000.0, 'factor': 8.0, 'low_freq_factor': 1.0,
        'high_freq_factor': 4.0, 'original_max_position_embeddings': 64}),
        'Llama 3.1 rope scaling and theta 500000 only in rope_parameters, as transformers 5 writes them'),
    't5-qwen2': (t.Qwen2Config, dict(shape, tie_word_embeddings=True, attention_bias=True, rope_parameters={
        'rope_type': 'yarn', 'rope_theta': 1000000.0, 'factor': 4.0, 'original_max_position_embeddings': 128}),
        'Qwen2 with YaRN and theta 1e6 only in rope_parameters; attention_bias, which Qwen2 does not have, ignored'),
    't5-mistral-window': (t.MistralConfig, dict(shape, sliding_window=4),
        'Mistral with a window of 4, rope in rope_parameters'),
}
minimal = {
    't5-llama-minimal': ('llama', 'Llama without optional fields: KV heads = heads, rms_norm_eps 1e-6, theta 10000'),
    't5-mistral-minimal': ('mistral', 'Mistral without optional fields: 8 KV heads, window 4096, rms_norm_eps 1e-6'),
    't5-qwen2-minimal': ('qwen2', 'Qwen2 without optional fields: q/k/v biases, no window, rms_norm_eps 1e-6'),
    't5-qwen3-minimal': ('qwen3', 'Qwen3 without optional fields: head_dim 128 (not hidden / heads), theta 10000'),
}
def write_golden(name, cfg, comment):
    cfg = dict(cfg, _comment='Golden case (transformers ' + t.__version__ + '): ' + comment + '.')
    with open(os.path.join(golden_dir, name + '.json'), 'w') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')
    print(name)
for name, (cls, kw, comment) in saved.items():
    with tempfile.TemporaryDirectory() as d:
        cls(**kw).save_pretrained(d)
        write_golden(name, json.load(open(os.path.join(d, 'config.json'))), comment)
for name, (model_type, comment) in minimal.items():
    keep = ['hidden_size', 'intermediate_size', 'num_attention_heads', 'num_hidden_layers', 'vocab_size',
            'max_position_embeddings']
    cfg = {k: shape[k] for k in keep}
    cfg['model_type'] = model_type
    cfg['num_key_value_heads'] = 4 if model_type in ('qwen2', 'qwen3') else None  # Qwen's default 32 would not divide 8
    if cfg['num_key_value_heads'] is None: del cfg['num_key_value_heads']
    t.AutoConfig.for_model(**cfg)  # transformers accepts it
    write_golden(name, cfg, comment)
