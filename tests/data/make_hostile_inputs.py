# Writes tests/data/hostile_inputs.tsv, the table tests/test_hostile.cpp runs: python3 tests/data/make_hostile_inputs.py
import json
import os
root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
tiny = json.load(open(os.path.join(root, 'profiles/models/tiny.json')))
tiny.pop('_comment', None)
gpt = json.load(open(os.path.join(root, 'profiles/models/tiny-gpt2.json')))
gpt.pop('_comment', None)
moe = json.load(open(os.path.join(root, 'profiles/models/tiny-moe.json')))
moe.pop('_comment', None)
qmoe = json.load(open(os.path.join(root, 'tests/data/tiny-qwen2-moe.json')))
qmoe.pop('_comment', None)
t5 = lambda name: json.load(open(os.path.join(root, 'tests/data/transformers5', name + '.json')))
rows = []
def add(name, args, status, says, config='-'):
    assert '\t' not in args and '\t' not in says and '\t' not in config and '\n' not in config
    rows.append((name, args, config, str(status), says))
def cfg(base, **patch):
    d = dict(base)
    for k, v in patch.items():
        if v is Ellipsis: d.pop(k, None)
        else: d[k] = v
    return json.dumps(d, separators=(',', ':'))
DRY = '--gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 --dry-run'
RUN = '--gpus 1 --strategy tp --batch 1 --prompt 4 --gen 2 --warmup 0 -n 1 --ceilings none -q'
M = 'bench --model {cfg} ' + DRY
# --- model files: every integer field wrong type / negative / zero / huge / fractional / missing
llama_int = ['hidden_size', 'intermediate_size', 'num_attention_heads', 'num_key_value_heads', 'num_hidden_layers',
             'vocab_size', 'max_position_embeddings']
required = {'hidden_size', 'intermediate_size', 'num_attention_heads', 'num_hidden_layers', 'vocab_size',
            'max_position_embeddings'}
bad_ints = [('string', '"64"', 'must be a positive integer'), ('negative', -8, 'must be a positive integer'),
            ('zero', 0, 'must be a positive integer'), ('fraction', 1.5, 'must be a positive integer'),
            ('bool', True, 'must be a positive integer'), ('huge', 10**12, 'implausibly large'),
            ('u64max', 2**64 - 1, 'implausibly large'), ('array', [64], 'must be a positive integer')]
for field in llama_int:
    for tag, value, says in (bad_ints if field == 'hidden_size' else bad_ints[:2] + bad_ints[5:6]):
        v = json.loads(value) if isinstance(value, str) and value.startswith('"') else value
        add(f'llama-{field}-{tag}', M, 2, f"field '{field}'|{says}", cfg(tiny, **{field: v}))
    if field in required:
        add(f'llama-{field}-missing', M, 2, f"field '{field}'|missing", cfg(tiny, **{field: ...}))
for field in ['n_embd', 'n_head', 'n_layer', 'vocab_size', 'n_positions', 'n_inner']:
    for tag, value, says in [bad_ints[1]] if field != 'n_embd' else [bad_ints[0], bad_ints[1], bad_ints[2], bad_ints[5]]:
        v = json.loads(value) if isinstance(value, str) and value.startswith('"') else value
        add(f'gpt2-{field}-{tag}', M, 2, f"field '{field}'|{says}", cfg(gpt, **{field: v}))
    if field != 'n_inner':
        add(f'gpt2-{field}-missing', M, 2, f"field '{field}'|missing", cfg(gpt, **{field: ...}))
for field in ['rms_norm_eps', 'rope_theta']:
    add(f'llama-{field}-string', M, 2, f"field '{field}'|must be a number", cfg(tiny, **{field: 'x'}))
    add(f'llama-{field}-zero', M, 2, f"field '{field}'|must be positive", cfg(tiny, **{field: 0}))
    add(f'llama-{field}-negative', M, 2, f"field '{field}'|must be positive", cfg(tiny, **{field: -1e-5}))
add('gpt2-layer_norm_epsilon-negative', M, 2, "field 'layer_norm_epsilon'|must be positive", cfg(gpt, layer_norm_epsilon=-1))
add('llama-tie-string', M, 2, "field 'tie_word_embeddings'|must be true or false", cfg(tiny, tie_word_embeddings='yes'))
add('llama-tie-number', M, 2, "field 'tie_word_embeddings'|must be true or false", cfg(tiny, tie_word_embeddings=1))
add('model_type-number', M, 2, "field 'model_type'|must be a string", cfg(tiny, model_type=5))
add('model_type-unknown', M, 2, "field 'model_type'|'bert' is not supported", cfg(tiny, model_type='bert'))
add('hidden_act-unknown', M, 2, "field 'hidden_act'|'relu' is not supported", cfg(tiny, hidden_act='relu'))
add('gpt2-activation-unknown', M, 2, "field 'activation_function'|not supported", cfg(gpt, activation_function='relu'))
add('heads-do-not-divide-hidden', M, 2, "field 'num_attention_heads'|do not divide hidden_size", cfg(tiny, num_attention_heads=7, num_key_value_heads=7))
add('kv-heads-do-not-divide-heads', M, 2, "field 'num_key_value_heads'|do not divide num_attention_heads", cfg(tiny, num_key_value_heads=3))
add('odd-head-dim', M, 2, "field 'head_dim'|even head dimension", cfg(tiny, head_dim=7))
add('gpt2-heads-do-not-divide', M, 2, "field 'n_head'|do not divide n_embd", cfg(gpt, n_head=5))
add('experts-per-token-exceed', M, 2, "field 'num_experts_per_tok'|exceeds num_local_experts", cfg(moe, num_local_experts=2, num_experts_per_tok=3))
# MixtralConfig's num_experts_per_tok default (2) is more than one expert
add('experts-without-per-token', M, 2, "field 'num_experts_per_tok'|2 exceeds num_local_experts 1", cfg(moe, num_local_experts=1, num_experts_per_tok=...))
add('experts-too-many', M, 2, "field 'num_local_experts'|exceeds the most", cfg(moe, num_local_experts=100000, num_experts_per_tok=2))
add('sliding-window-zero', M, 2, "field 'sliding_window'|must be a positive integer", cfg(tiny, model_type='mistral', sliding_window=0))
# --- config.json as transformers 5 reads it (docs/config-fields.md): forms that disagree, windows over some layers
add('rope-theta-disagrees', M, 2, "field|'rope_theta' (10000)|'rope_parameters.rope_theta' (500000)|disagree",
    cfg(tiny, rope_parameters={'rope_type': 'default', 'rope_theta': 500000.0}))
add('rope-scaling-disagrees', M, 2, "'rope_scaling'|'rope_parameters'|disagree",
    cfg(tiny, rope_scaling={'rope_type': 'linear', 'factor': 2.0}, rope_parameters={'rope_type': 'linear', 'factor': 4.0}))
add('rope-parameters-not-object', M, 2, "field 'rope_parameters'|must be an object", cfg(tiny, rope_parameters=10000.0))
add('rope-parameters-per-layer-type', M, 2, "field 'rope_parameters'|per layer type",
    cfg(tiny, rope_parameters={'full_attention': {'rope_type': 'default', 'rope_theta': 10000.0}}))
add('rope-parameters-partial-rotary', M, 2, "field 'partial_rotary_factor'|not implemented",
    cfg(tiny, rope_parameters={'rope_type': 'default', 'partial_rotary_factor': 0.5}))
add('mixtral-experts-alias-disagrees', M, 2, "'num_local_experts' (6)|'num_experts' (4)|disagree", cfg(moe, num_experts=4))
add('qwen2-window-some-layers', M, 2, "field 'max_window_layers'|layers 2, 3 of 4|every layer or none",
    cfg(tiny, model_type='qwen2', use_sliding_window=True, sliding_window=16, max_window_layers=2))
add('qwen2-moe-window-even-layers', M, 2, "field 'max_window_layers'|layers 0, 2 of 3|Qwen2MoeConfig",
    cfg(qmoe, use_sliding_window=True, sliding_window=16))
add('qwen2-layer-types-unknown', M, 2, "field 'layer_types'|not implemented",
    cfg(tiny, model_type='qwen2', layer_types=['chunked_attention'] * 4))
add('qwen2-layer-types-wrong-length', M, 2, "field 'layer_types'|each of the 4 layers",
    cfg(tiny, model_type='qwen2', layer_types=['full_attention']))
add('qwen2-layer-types-sliding-without-window', M, 2, "field 'layer_types'|no window size is in use",
    cfg(tiny, model_type='qwen2', sliding_window=16, layer_types=['sliding_attention'] * 4))
add('qwen2-moe-kv-heads-null', M, 2, "field 'num_key_value_heads'|Qwen2MoeConfig", cfg(qmoe, num_key_value_heads=None))
add('qwen2-kv-heads-default-32', M, 2, "field 'num_key_value_heads'|32 KV heads", cfg(tiny, model_type='qwen2', num_key_value_heads=...))
add('transformers5-qwen2-dry-run', M, 0, 'to run|!note:', json.dumps(t5('qwen2'), separators=(',', ':')))
add('transformers5-mixtral-dry-run', M, 0, 'to run|!note:', json.dumps(t5('mixtral'), separators=(',', ':')))
add('qwen2-attention-bias-ignored', M, 0, "note:|field 'attention_bias' (true) ignored|Qwen2Config|to run",
    cfg(tiny, model_type='qwen2', attention_bias=True))
add('hidden-too-wide', M, 2, "field 'hidden_size'|exceeds the most", cfg(tiny, hidden_size=1 << 26, head_dim=64))
add('layers-too-many', M, 2, "field 'num_hidden_layers'|exceeds the most", cfg(tiny, num_hidden_layers=1 << 21))
add('qkv-product-too-large', M, 2, "field 'head_dim'|exceeds the most", cfg(tiny, num_attention_heads=1 << 16, num_key_value_heads=1 << 16, head_dim=1 << 12))
add('parameters-too-many', M, 2, "field 'num_hidden_layers'|parameters, more than", cfg(tiny, hidden_size=1 << 24, intermediate_size=1 << 24, vocab_size=1 << 24, head_dim=64))
# big but allowed shapes: plan at once, memory printed without wrapping around size_t
add('layers-100000-dry-run', 'bench --model {cfg} --gpus 1,2,4,8 --strategy tp,pp --batch 1 --prompt 4 --gen 2 --dry-run', 0, 'pp|tp1.pp8.dp1|!4294967', cfg(tiny, num_hidden_layers=100000, intermediate_size=8))
add('layers-100000-pp4096-dry-run', 'bench --model {cfg} --gpus 4096 --strategy pp --batch 4096 --prompt 4 --gen 2 --dry-run', 2, 'pp|tp1.pp4096.dp1.mb4096|insufficient host memory|0 to run', cfg(tiny, num_hidden_layers=100000))
add('layers-1M-dry-run', 'bench --model {cfg} --gpus 1,64 --strategy pp --batch 64 --prompt 4 --gen 2 --dry-run', 2, 'pp|tp1.pp64.dp1.mb64|insufficient host memory', cfg(tiny, num_hidden_layers=1 << 20))
add('huge-shape-dry-run-no-wrap', 'bench --model {cfg} --gpus 1,2 --strategy tp --batch 1000000 --prompt 4 --gen 2 --dry-run', 2, 'tp|tp2.pp1.dp1|insufficient host memory|!4294967', cfg(tiny, hidden_size=1 << 20, intermediate_size=1 << 20, vocab_size=1 << 20, head_dim=64, num_attention_heads=16, num_key_value_heads=16))
add('huge-shape-run-refused-for-memory', 'bench --model {cfg} ' + RUN, 2, 'insufficient host memory|nothing could run', cfg(tiny, hidden_size=1 << 20, intermediate_size=1 << 20, vocab_size=1 << 20, head_dim=64, num_attention_heads=16, num_key_value_heads=16))
# unusable files
for tag, content, says in [('empty-file', '@empty', 'not valid JSON'), ('truncated', '{"hidden_size": ', 'not valid JSON'),
                           ('array', '[]', 'expected a JSON object'), ('null', 'null', 'expected a JSON object'),
                           ('number', '42', 'expected a JSON object'), ('string', '"llama"', 'expected a JSON object'),
                           ('garbage', 'GIF89a\\x01', 'not valid JSON'), ('trailing-comma', '{"a": 1,}', 'not valid JSON'),
                           ('empty-object', '{}', "field 'hidden_size'|missing"), ('directory', '@dir', 'without a config.json'),
                           ('directory-with-config', '@dirconfig ' + cfg(tiny), 'to run')]:
    add(f'file-{tag}', M, 0 if tag == 'directory-with-config' else 2, says, content)
add('file-missing', 'bench --model {tmp}/nosuch.json ' + DRY, 2, 'no such model file')
add('model-empty-name', 'bench --model "" ' + DRY, 2, '--model: an empty value is not allowed')
add('model-unknown-preset', 'bench --model nosuchmodel ' + DRY, 2, "unknown model 'nosuchmodel'")
add('model-dev-null', 'bench --model /dev/null ' + DRY, 2, 'not a regular file')
# --- numeric flags
T = 'bench --model tiny ' 
base = '--strategy tp --batch 1 --prompt 4 --gen 2 --dry-run'
for flag, good in [('--gpus', '1'), ('--batch', '1'), ('--prompt', '4'), ('--gen', '2'), ('--microbatches', '1')]:
    rest = ' '.join(x for x in ['--gpus 1', '--strategy tp', '--batch 1', '--prompt 4', '--gen 2', '--dry-run'] if not x.startswith(flag + ' '))
    for tag, value, says in [('negative', '-1', "'-1' is not a positive integer"), ('zero', '0', "'0' is not a positive integer"),
                             ('huge', '99999999999', "'99999999999' is not a positive integer"), ('too-many', '16777217', 'exceeds the most allowed'),
                             ('text', 'abc', "'abc' is not a positive integer"), ('fraction', '1.5', "'1.5' is not a positive integer"),
                             ('empty', '""', 'an empty value is not allowed'), ('commas', '","', 'expected a comma-separated list'),
                             ('bad-item', '1,x', "'x' is not a positive integer"), ('plus', '+1', "'+1' is not a positive integer")]:
        if flag == '--gpus' or tag in ('negative', 'text'):
            add(f'flag{flag}-{tag}', f'{T}{flag} {value} {rest}', 2, f'{flag}|{says}')
add('flag--gpus-above-cap', T + '--gpus 100000 --strategy dp --merge mean --batch 1 --prompt 4 --gen 2', 2, '--gpus: 100000 exceeds the most allowed')
add('flag--gpus-duplicates', T + '--gpus 1,1,1 ' + base, 0, '1 configurations: 1 to run')
add('flag--batch-duplicates', T + '--gpus 1 --strategy tp --batch 1,1 --prompt 4 --gen 2 --dry-run', 0, '1 configurations: 1 to run')
add('flag--prompt-beyond-positions', T + '--gpus 1 --strategy tp --batch 1 --prompt 600 --gen 2 --dry-run', 2, 'exceed the model|nothing could run')
for flag, low, high in [('--warmup', 0, 1000000), ('--iterations', 1, 1000000), ('--overlap-chunks', 1, 1024)]:
    add(f'flag{flag}-below', f'{T}{flag} {low - 1} --gpus 1 {base}', 2, f'{flag}: {low - 1} is out of range')
    add(f'flag{flag}-above', f'{T}{flag} {high + 1} --gpus 1 {base}', 2, f'{flag}: {high + 1} is out of range')
add('flag-n-negative', T + '-n -5 --gpus 1 ' + base, 2, '--iterations: -5 is out of range')
for tag, value, says in [('negative', '-1', 'out of range'), ('zero', '0', 'out of range'), ('huge', '2000000000', 'out of range'),
                         ('text', 'abc', 'is not an integer'), ('beyond-model', '9', 'tiny has 4 layers')]:
    add(f'flag--layers-{tag}', f'{T}--layers {value} --gpus 1 {base}', 2, f'--layers|{says}')
add('flag--layers-one', T + '--layers 1 --gpus 1 ' + base, 0, 'to run')
for tag, value, says in [('negative', '-1', "--seed: '-1' is not an integer"), ('overflow', '18446744073709551616', 'is not an integer from 0 to 18446744073709551615'),
                         ('text', 'abc', "--seed: 'abc'"), ('plus', '+5', "--seed: '+5'")]:
    add(f'flag--seed-{tag}', f'{T}--seed {value} --gpus 1 {base}', 2, says)
add('flag--seed-max', T + '--seed 18446744073709551615 --gpus 1 ' + base, 0, 'to run')
add('flag--seed-zero', T + '--seed 0 --gpus 1 ' + base, 0, 'to run')
for tag, value, says in [('negative', '-1', 'is not a number of seconds >= 0'), ('text', 'abc', '--collective-timeout'),
                         ('nan', 'nan', 'is not a number of seconds >= 0')]:
    add(f'flag--collective-timeout-{tag}', f'{T}--collective-timeout {value} --gpus 1 {base}', 2, says)
add('flag--collective-timeout-zero', T + '--collective-timeout 0 --gpus 1 ' + base, 0, 'to run')
A = T + '--gpus 1 ' + base + ' --target-rsd 5%'
for tag, extra, says in [('max-time-negative', '--max-time -1', '--max-time: -1'), ('max-time-nan', '--max-time nan', '--max-time: nan'),
                         ('min-iters-one', '--min-iters 1', '--min-iters: at least 2'),
                         ('min-iters-huge', '--min-iters 2000000 --max-iters 2000000', '--min-iters: 2000000 is out of range'),
                         ('max-below-min', '--min-iters 10 --max-iters 5', 'must not be below --min-iters'),
                         ('max-iters-negative', '--max-iters -3', '--max-iters')]:
    add(f'flag-adaptive-{tag}', f'{A} {extra}', 2, says)
for tag, value, says in [('zero', '0%', '--target-rsd'), ('text', 'abc', '--target-rsd'),
                         ('above-100', '150%', '--target-rsd'), ('percent-only', '%', '--target-rsd')]:
    add(f'flag--target-rsd-{tag}', f'{T}--gpus 1 {base} --target-rsd {value}', 2, says)
D = T + '--gpus 2 --strategy dp --merge mean --batch 1 --prompt 4 --gen 2 --dry-run'
for tag, value, says in [('zero', '0,1', 'weights must be positive'), 
                         ('text', 'a,1', "'a' is not a number"), ('nan', 'nan,1', "'nan' is not a number"), ('inf', 'inf,1', "'inf' is not a number"),
                         ('huge', '1e308,1e308', "'1e308' exceeds the most allowed"),
                         ('count-mismatch', '1,2,3', 'ensemble weights given for 2 replicas|nothing could run')]:
    add(f'flag--ensemble-weights-{tag}', f'{D} --ensemble-weights {value}', 2, says)
for tag, value in [('text', 'abc'), ('negative', '-5%'), ('nan', 'nan%'), ('garbage', '5xms')]:
    add(f'flag--inject-delay-{tag}', f'{T}--gpus 1 {base} --inject-delay {value}', 2, '--inject-delay')
# --- names and modes
for flag, value, says in [('--strategy', 'warp', "unknown strategy 'warp'"), ('--strategy', '""', '--strategy: an empty value is not allowed'),
                          ('--strategy', '","', '--strategy: the list is empty'), ('--sync', 'sometimes', "unknown mode 'sometimes'"),
                          ('--sync', '""', '--sync: an empty value is not allowed'), ('--merge', 'avg', "unknown mode 'avg'"),
                          ('--dtype', 'fp64', 'fp64'), ('--dtype', 'bf16 --backend cpu', 'fp32 only'),
                          ('--backend', 'tpu', 'unknown backend'), ('--backend', '""', 'backend'),
                          ('--attention', 'fast', 'unknown attention kernel'), ('--attention', 'cudnn --backend cpu', 'cuDNN attention needs the CUDA backend'),
                          ('--ceilings', 'nosuch-gpu', "unknown hardware profile 'nosuch-gpu'"), ('--objective', 'speed', "--objective: 'speed'"),
                          ('--replica-weights', 'some', "--replica-weights: 'some'"), ('--microbatches', 'auto,2', "--microbatches: 'auto'")]:
    rest = ' '.join(x for x in ['--gpus 1', '--strategy tp', '--batch 1', '--prompt 4', '--gen 2'] if not x.startswith(flag + ' '))
    add(f'flag{flag}-{value.split()[0].strip(chr(34)) or "empty"}', f'{T}{flag} {value} {rest}', 2, says)
add('flag--merge-empty', T + '--merge "" --gpus 1 ' + base, 2, '--merge: an empty value is not allowed')
add('flag--sync-comma-only', T + '--sync , --gpus 1 ' + base, 2, '--sync: the list is empty')
add('flag--sync-all-duplicated', T + '--gpus 1 --strategy tp --sync all,all,blocking --batch 1 --prompt 4 --gen 2 --dry-run', 0, 'to run')
# --- conflicts and impossible sweeps
add('conflict-cuda-graphs-on-cpu', T + '--backend cpu --cuda-graphs --gpus 1 ' + base, 2, '--cuda-graphs: needs the CUDA backend')
add('conflict-flush-l2-on-cpu', T + '--backend cpu --flush-l2 --gpus 1 ' + base, 2, '--flush-l2: needs the CUDA backend')
add('conflict-emulate-on-cpu', T + '--backend cpu --emulate-ranks --gpus 1 ' + base, 2, 'emulate')
add('conflict-profile-several', 'profile --model tiny --gpus 1,2 --strategy tp --batch 1 --prompt 4 --gen 2', 2, 'profile runs exactly one configuration')
add('impossible-all-skipped-tp3', T + '--gpus 3 --strategy tp --batch 1 --prompt 4 --gen 2 --dry-run', 2, 'does not divide the 8 attention heads|nothing could run')
add('impossible-dp-beyond-batch', T + '--gpus 2 --strategy dp --batch 1 --prompt 4 --gen 2 --dry-run', 2, 'exceeds the batch of 1|nothing could run')
add('impossible-moe', T + '--gpus 2 --strategy ep --batch 2 --prompt 4 --gen 2 --dry-run', 2, 'ep splits the experts of MoE layers: tiny has none|nothing could run')
add('impossible-pp-beyond-layers', T + '--gpus 8 --strategy pp --batch 8 --prompt 4 --gen 2 --dry-run', 2, 'nothing could run')
add('impossible-run-all-skipped', T + '--gpus 3 --strategy tp ' + RUN.replace('--gpus 1 --strategy tp ', ''), 2, 'nothing could run')
# --- output paths, checked before any work
add('output-json-directory', T + '--json {tmp} ' + RUN, 2, 'is a directory')
add('output-csv-directory', T + '--csv {tmp} ' + RUN, 2, 'is a directory')
add('output-json-missing-dir', T + '--json {tmp}/no/such/dir/r.json ' + RUN, 2, 'does not exist')
add('output-csv-missing-dir', T + '--csv {tmp}/no/such/dir/r.csv ' + RUN, 2, 'does not exist')
add('output-json-trailing-slash', T + '--json {tmp}/newdir/ ' + RUN, 2, '--json')
add('resume-directory', T + '--resume {tmp} ' + RUN, 2, 'is a directory')
add('resume-missing', T + '--resume {tmp}/nosuch.json ' + RUN, 2, 'nosuch.json')
add('resume-not-json', T + '--resume {cfg} ' + RUN, 2, 'JSON', 'not json at all')
# --- command line shape
add('cli-no-subcommand', '', 2, 'subcommand is required')
add('cli-unknown-subcommand', 'frobnicate', 2, 'subcommand')
add('cli-unknown-option', 'bench --bogus', 2, '--bogus')
add('cli-missing-value', 'bench --gpus', 2, '--gpus')
add('cli-extra-positional', 'bench extra', 2, 'extra')
add('cli-int-option-text', 'bench --warmup many', 2, '--warmup')
add('cli-compare-no-args', 'compare', 2, 'required')
add('cli-compare-one-arg', 'compare {tmp}/a.json', 2, 'required')
add('cli-list-extra', 'list extra', 2, 'extra')
add('cli-help', 'bench --help', 0, '--collective-timeout')
add('cli-version', '--version', 0, 'llmthreads')
add('cli-list', 'list', 0, 'tiny')
# --- real runs on the tiny models (the correct result, fast)
add('run-ok', T + RUN, 0, 'pass|1 configurations: 1 run (0 failed), 0 skipped')
add('run-gen-1', T + RUN.replace('--gen 2', '--gen 1'), 0, 'pass')
add('run-gpt2-two-ranks', 'bench --model tiny-gpt2 ' + RUN.replace('--gpus 1', '--gpus 2'), 0, 'pass')
add('run-seed-max', T + RUN + ' --seed 18446744073709551615', 0, 'pass')
add('run-collective-timeout', T + RUN.replace('--gpus 1', '--gpus 2') + ' --collective-timeout 0', 0, 'pass')
add('run-some-skipped', T + RUN.replace('--gpus 1', '--gpus 1,3'), 0, '1 run (0 failed), 1 skipped')
add('run-layers-100000-one-rank-dry', 'bench --model {cfg} --gpus 4 --strategy pp --batch 4 --prompt 4 --gen 2 --dry-run', 0, 'tp1.pp4.dp1', cfg(tiny, num_hidden_layers=100000, intermediate_size=8))

# --- safetensors checkpoints (--weights): the header validated as the safetensors specification does
def files(spec):
    return '@files ' + json.dumps(spec, separators=(',', ':'))
def st(tensors, data, **extra):
    return dict(header=tensors, data=data, **extra)
def one(offsets, shape=[1], dtype='F32', data=4):
    return files({'model.safetensors': st({'a': {'dtype': dtype, 'shape': shape, 'data_offsets': offsets}}, data)})
W = 'bench --model tiny --weights {cfg} ' + DRY
F = 'model.safetensors: '
for tag, config, says in [
        ('offsets-empty', one([]), "field 'data_offsets' []|must be [begin, end]"),
        ('offsets-one-element', one([0]), "field 'data_offsets' [0]|must be [begin, end]"),
        ('offsets-three-elements', one([0, 4, 8]), 'must be [begin, end]'),
        ('offsets-negative', one([-8, -4]), 'must be [begin, end], two integers >= 0'),
        ('offsets-strings', one(['0', '4']), 'must be [begin, end]'),
        ('offsets-decreasing', one([4, 0]), "[4, 0] decreases"),
        ('offsets-near-2^64', one([2**64 - 8, 2**64 - 4]), 'lies beyond the file'),
        ('offsets-end-2^64-1', one([0, 2**64 - 1]), 'holds 18446744073709551615 bytes'),
        ('offsets-beyond-file', one([0, 8], shape=[2]), 'lies beyond the file (its data holds 4 bytes)'),
        ('offsets-not-dtype-x-shape', one([0, 4], shape=[2]), 'holds 4 bytes; dtype F32 x shape [2] needs 8'),
        ('offsets-not-from-zero', one([4, 8], data=8), 'leaves bytes [0, 4) unused'),
        ('offsets-trailing-bytes', one([0, 4], data=8), 'cover 4 bytes of data, the file holds 8'),
        ('offsets-overlap', files({'model.safetensors': st({'a': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},
                                                            'b': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, 4)}),
         'overlaps the tensor before it'),
        ('offsets-hole', files({'model.safetensors': st({'a': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},
                                                         'b': {'dtype': 'F32', 'shape': [1], 'data_offsets': [8, 12]}}, 12)}),
         'leaves bytes [4, 8) unused'),
        ('offsets-missing', files({'model.safetensors': st({'a': {'dtype': 'F32', 'shape': [1]}}, 4)}), "field 'data_offsets' missing"),
        ('dtype-unknown', one([0, 4], dtype='F33'), 'is not a safetensors dtype'),
        ('dtype-number', one([0, 4], dtype=5), 'is not a safetensors dtype'),
        ('shape-negative', one([0, 4], shape=[-1]), 'must hold integers >= 0'),
        ('shape-overflow', one([0, 4], shape=[2**32, 2**32, 2**32]), 'is larger than the file'),
        ('shape-not-array', one([0, 4], shape=4), "field 'shape' must be an array"),
        ('tensor-not-object', files({'model.safetensors': st({'a': 5}, 0)}), "tensor 'a': must be an object"),
        ('metadata-not-strings', files({'model.safetensors': st({'__metadata__': {'format': 1}}, 0)}), "'__metadata__.format' must be a string"),
        ('metadata-not-object', files({'model.safetensors': st({'__metadata__': []}, 0)}), "'__metadata__' must be an object"),
        ('header-length-2^64-1', files({'model.safetensors': st({}, 0, length=2**64 - 1)}), 'exceeds the safetensors limit'),
        ('header-length-beyond-file', files({'model.safetensors': st({}, 0, length=4096)}), 'header length 4096 exceeds the file'),
        ('header-not-object', files({'model.safetensors': st('[1, 2]', 0)}), "does not start with '{'"),
        ('header-not-json', files({'model.safetensors': st('{"a": ', 0)}), 'header is not valid JSON'),
        ('file-too-short', files({'model.safetensors': 'abc'}), 'shorter than its 8-byte header length'),
        ('file-fifo', files({'model.safetensors': {'fifo': True}}), 'is a FIFO, not a regular file'),
        ('file-directory', files({'model.safetensors': {'dir': True}}), 'is a directory, not a regular file'),
        ('file-symlink-to-fifo', files({'p': {'fifo': True}, 'model.safetensors': {'symlink': 'p'}}), 'is a FIFO, not a regular file'),
        ('tensor-in-two-shards', files({'a.safetensors': st({'t': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, 4),
                                        'b.safetensors': st({'t': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, 4)}),
         "tensor 't' is in both|a.safetensors and|b.safetensors"),
        ('index-names-wrong-shard', files({'model.safetensors.index.json': '{"weight_map": {"t": "a.safetensors", "u": "b.safetensors"}}',
                                           'a.safetensors': st({'u': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, 4),
                                           'b.safetensors': st({'t': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, 4)}),
         "weight_map['t'] names a.safetensors, which does not hold it"),
        ('index-omits-a-tensor', files({'model.safetensors.index.json': '{"weight_map": {"t": "a.safetensors"}}',
                                        'a.safetensors': st({'t': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},
                                                             'extra': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}}, 8)}),
         "tensor 'extra' of a.safetensors is not in weight_map"),
        ('index-path-leaves-directory', files({'model.safetensors.index.json': '{"weight_map": {"t": "../a.safetensors"}}'}),
         "is not a file name in"),
        ('index-shard-missing', files({'model.safetensors.index.json': '{"weight_map": {"t": "nosuch.safetensors"}}'}),
         'nosuch.safetensors: cannot open: No such file or directory'),
        ('index-fifo', files({'model.safetensors.index.json': {'fifo': True}}), 'is a FIFO, not a regular file'),
        ('index-empty-map', files({'model.safetensors.index.json': '{"weight_map": {}}'}), "'weight_map' names no tensor"),
        ('config-json-fifo', files({'config.json': {'fifo': True}}), 'not a regular file')]:
    add(f'weights-{tag}', W.replace('--model tiny ', '') if tag == 'config-json-fifo' else W, 2, says, config)
add('weights-missing-directory', 'bench --model tiny --weights {tmp}/nosuch ' + DRY, 2, 'nosuch: No such file or directory')
add('weights-a-file', 'bench --model tiny --weights {cfg} ' + DRY, 2, 'is a regular file, not a directory', cfg(tiny))
add('weights-through-a-file', 'bench --model tiny --weights {cfg}/w ' + DRY, 2, 'w: Not a directory', cfg(tiny))
# --- inputs that are FIFOs never hang
add('model-fifo', 'bench --model {cfg}/m.json ' + DRY, 2, 'not a regular file', files({'m.json': {'fifo': True}}))
add('resume-fifo-without-writer', T + '--resume {cfg}/r.json ' + RUN, 2, 'r.json: is empty', files({'r.json': {'fifo': True}}))
add('compare-fifo-without-writer', 'compare {cfg}/r.json {cfg}/r.json', 2, 'is empty', files({'r.json': {'fifo': True}}))
add('ceilings-fifo', T + '--ceilings {cfg}/hw.json --gpus 1 ' + base, 2, 'hw.json', files({'hw.json': {'fifo': True}}))
# profile directories: a preset or hardware profile that is a FIFO, a directory or a link to a FIFO
# is refused by name, never opened (a FIFO would block load_model)
for tag, spec, kind in [('fifo', {'fifo': True}, 'is a FIFO'), ('directory', {'dir': True}, 'is a directory'),
                        ('symlink-to-fifo', {'symlink': 'p'}, 'is a FIFO')]:
    add(f'profile-dir-preset-{tag}', '@env LLMT_PROFILE_DIR={cfg} bench --model hostile-preset ' + DRY, 2,
        f"hostile-preset.json: {kind}, not a model file|the preset 'hostile-preset' in",
        files({'p': {'fifo': True}, 'hostile-preset.json': spec}))
    add(f'hardware-profile-dir-{tag}', '@env LLMT_HARDWARE_PROFILE_DIR={cfg} ' + T + '--ceilings hostile-hw --gpus 1 ' + base, 2,
        f"--ceilings|hostile-hw.json: {kind}, not a hardware profile", files({'p': {'fifo': True}, 'hostile-hw.json': spec}))
add('model-directory-config-fifo', 'bench --model {cfg} ' + DRY, 2, 'config.json: is a FIFO, not a model file',
    files({'config.json': {'fifo': True}}))
add('model-directory-config-directory', 'bench --model {cfg} ' + DRY, 2, 'config.json: is a directory, not a model file',
    files({'config.json': {'dir': True}}))
# --- outputs: two on one file, one over an input, device nodes, FIFOs, full disks, paths through files
for tag, args in [('json-csv', '--json {tmp}/x --csv {tmp}/./x'), ('json-dump-logits', '--json {tmp}/x --dump-logits {tmp}/x'),
                  ('csv-dump-logits', '--csv {cfg}/x --dump-logits {cfg}/d/../x'),
                  ('json-csv-symlink', '--json {cfg}/target.json --csv {cfg}/link.json'),
                  ('csv-resume', '--csv {tmp}/r.json --resume {tmp}/r.json')]:
    add(f'output-two-on-one-file-{tag}', T + args + ' ' + RUN, 2, 'are one file',
        files({'link.json': {'symlink': 'target.json'}, 'target.json': 'x', 'd': {'dir': True}}) if '{cfg}' in args else '-')
add('output-json-over-model', 'bench --model {cfg} --json {cfg} ' + RUN, 2, 'is the input --model', cfg(tiny))
add('output-csv-over-weights', 'bench --weights {cfg} --csv {cfg}/model.safetensors ' + RUN, 2, 'is the input --weights',
    files({'model.safetensors': 'x', 'config.json': cfg(tiny)}))
add('output-dump-logits-over-a-shard', 'bench --weights {cfg} --dump-logits {cfg}/model-00002-of-00002.safetensors ' + RUN, 2, 'is the input --weights',
    files({'model-00002-of-00002.safetensors': 'x', 'config.json': cfg(tiny)}))
add('output-json-over-model-directory-config', 'bench --model {cfg} --json {cfg}/config.json ' + RUN, 2, 'is the input --model',
    files({'config.json': cfg(tiny)}))
add('output-json-name-too-long', T + '--json {tmp}/' + 'x' * 300 + ' ' + RUN, 2, 'File name too long')
add('output-json-symlink-loop', T + '--json {cfg}/loop ' + RUN, 2, 'Too many levels of symbolic links', files({'loop': {'symlink': 'loop'}}))
add('output-json-dangling-symlink', T + '--json {cfg}/link ' + RUN, 0, '1 run (0 failed)', files({'link': {'symlink': 'made.json'}}))
add('output-json-in-sysfs', T + '--json /sys/kernel/llmt-r.json ' + RUN, 2, '--json /sys/kernel/llmt-r.json: |!configuration |!internal error')
add('output-json-through-a-file', T + '--json {cfg}/r.json ' + RUN, 2, '--json|r.json: Not a directory', cfg(tiny))
add('output-csv-through-a-file', T + '--csv {cfg}/r.csv ' + RUN, 2, '--csv|r.csv: Not a directory', cfg(tiny))
add('output-dump-logits-through-a-file', T + '--dump-logits {cfg}/l ' + RUN, 2, '--dump-logits|Not a directory', cfg(tiny))
add('output-json-fifo-without-reader', T + '--json {cfg}/p ' + RUN, 2, '--json|a FIFO with no reader', files({'p': {'fifo': True}}))
add('output-csv-fifo-without-reader', T + '--csv {cfg}/p ' + RUN, 2, '--csv|a FIFO with no reader', files({'p': {'fifo': True}}))
for flag in ['--json', '--csv', '--dump-logits']:
    add(f'output{flag}-dev-full', f'{T}{flag} /dev/full {RUN}', 2, f'{flag} /dev/full: cannot write: No space left on device|!internal error')
add('report-output-over-its-input', 'report {cfg}/r.json -o {cfg}/./r.json', 2, 'is the input results', files({'r.json': '{}'}))
add('report-compare-output-over-its-input', 'report --compare {cfg}/a.json {cfg}/b.json -o {cfg}/b.json', 2, 'is the input --compare', files({'a.json': '{}', 'b.json': '{}'}))
add('compare-output-over-base', 'compare {cfg}/a.json {cfg}/b.json -o {cfg}/a.json', 2, 'is the input base', files({'a.json': '{}', 'b.json': '{}'}))
add('compare-output-over-pooled-new', 'compare {cfg}/a.json {cfg}/b.json,{cfg}/c.json -o {cfg}/c.json', 2, 'is the input new', files({'a.json': '{}', 'b.json': '{}', 'c.json': '{}'}))
add('report-output-directory', 'report {cfg}/r.json -o {cfg}', 2, 'is a directory', files({'r.json': '{}'}))
# --- compare's and report's statistics options
for tag, value in [('negative', '-1'), ('zero', '0'), ('one', '1'), ('nan', 'nan'), ('inf', 'inf'), ('above-one', '5')]:
    add(f'compare--alpha-{tag}', f'compare {{tmp}}/a.json {{tmp}}/b.json --alpha {value}', 2, '--alpha|between 0 and 1')
    add(f'report-compare--alpha-{tag}', f'report --compare {{tmp}}/a.json {{tmp}}/b.json --alpha {value} -o {{tmp}}/o.html', 2, '--alpha|between 0 and 1')
for tag, value, says in [('negative', '-5%', 'is not a fraction'), ('nan', 'nan', 'is not a finite fraction'), ('inf', 'inf', 'is not a finite fraction'),
                         ('per-metric-nan', 'latency.median=nan', 'is not a finite fraction'), ('text', 'abc', 'is not a fraction')]:
    add(f'compare--threshold-{tag}', f'compare {{tmp}}/a.json {{tmp}}/b.json --threshold {value}', 2, f'--threshold|{says}')
for tag, value in [('negative', '-1'), ('nan', 'nan'), ('inf', 'inf')]:
    add(f'report-compare--threshold-{tag}', f'report --compare {{tmp}}/a.json {{tmp}}/b.json --threshold {value} -o {{tmp}}/o.html', 2, '--threshold')
for tag, value in [('zero', '0'), ('negative', '-3'), ('huge', '2000000')]:
    add(f'compare--min-samples-{tag}', f'compare {{tmp}}/a.json {{tmp}}/b.json --min-samples {value}', 2, '--min-samples|out of range')
# --- times that would overflow a duration
for flag, value in [('--collective-timeout', '1e10'), ('--collective-timeout', '1e300'), ('--max-time', '1e10')]:
    extra = ' --target-rsd 5%' if flag == '--max-time' else ''
    add(f'flag{flag}-{value}', f'{T}{flag} {value} --gpus 1 {base}{extra}', 2, f'{flag}|exceeds the most allowed')
add('flag--collective-timeout-inf', T + '--collective-timeout inf --gpus 1 ' + base, 2, '--collective-timeout')
add('flag--collective-timeout-at-cap', T + '--collective-timeout 1000000 --gpus 1 ' + base, 0, 'to run')
add('flag--inject-delay-huge-ms', T + '--gpus 1 ' + base + ' --inject-delay 1e13ms', 2, '--inject-delay|exceeds the most allowed')
add('flag--inject-delay-huge-percent', T + '--gpus 1 ' + base + ' --inject-delay 1e9%', 2, '--inject-delay|exceeds the most allowed')
# --- export-weights
E = 'export-weights --model tiny --layers 1 '
add('export-into-a-file', E + '{cfg}', 2, 'not a directory', cfg(tiny))
add('export-through-a-file', E + '{cfg}/sub', 2, 'cannot create this directory|Not a directory', cfg(tiny))
add('export-into-foreign-directory', E + '{cfg}', 2, 'holds notes.txt|an llmthreads export does not write', files({'notes.txt': 'mine'}))
add('export-into-foreign-checkpoint', E + '{cfg}', 2, 'not an earlier llmthreads export', files({'model.safetensors': st({}, 0), 'config.json': '{}'}))
add('export-layers-list', E.replace('--layers 1 ', '--layers 1,2 ') + '{tmp}/w', 2, "--layers: '1,2' is a list")
add('export-shards-zero', E + '--shards 0 {tmp}/w', 2, '--shards: 0 is not from 1 to 1000')
add('export-ok', E + '--shards 2 {tmp}/w', 0, '2 file(s)')
add('export-over-interrupted-export', E + '{cfg}', 0, '1 file(s)', files({'model-00001-of-00003.safetensors.tmp': 'partial', 'config.json.tmp': '{'}))

# --- traffic: request-list workloads (--workload and its options, --slo; docs/workloads.md)
W = T + '--gpus 1 ' + base + ' --workload '
H = 'arrived_at,num_prefill_tokens,num_decode_tokens\n'
def trace(tag, content, says, name='t.csv'):
    add(f'traffic-{tag}', W + '{cfg}/' + name, 2, says, files({name: content}))
trace('csv-empty', '', 't.csv: the trace file is empty')
trace('csv-blank-lines', '\n\n\n', 't.csv: the trace file is empty')
trace('csv-header-only', H, 't.csv: no requests after the header')
trace('csv-missing-column', 'arrived_at,num_prefill_tokens\n0,5\n', "t.csv line 1: the header has no column 'num_decode_tokens'")
trace('csv-short-row', H + '0,5,2\n1,5\n', 't.csv line 3: 2 fields, the header has 3')
trace('csv-zero-output', H + '0,5,0\n', "t.csv line 2, field 'num_decode_tokens': 0 tokens; every length must be at least 1")
trace('csv-negative-prompt', H + '0,5,2\n1,-4,2\n', "t.csv line 3, field 'num_prefill_tokens': -4 tokens")
trace('csv-text-length', H + '0,ten,2\n', "t.csv line 2, field 'num_prefill_tokens': 'ten' is not a whole number")
trace('csv-huge-length', H + '0,99999999999,2\n', "field 'num_prefill_tokens'|exceeds the most allowed")
trace('csv-negative-time', H + '-0.5,5,2\n', "t.csv line 2, field 'arrived_at': -0.5 s is negative")
trace('csv-unsorted-time', H + '0,5,2\n2,5,2\n1,5,2\n', "t.csv line 4, field 'arrived_at': 1 s is before the previous row's 2 s")
trace('csv-nan-time', H + 'nan,5,2\n', "t.csv line 2, field 'arrived_at': 'nan' is not a finite number")
trace('csv-empty-line-inside', H + '0,5,2\n\n1,5,2\n', 't.csv line 3: an empty line among the rows')
trace('csv-beyond-positions', H + '0,5,2\n1,400,200\n', 't.csv line 3: prompt 400 + output 200 tokens need 599 positions; tiny has 512')
trace('csv-fifo', {'fifo': True}, 't.csv: is a FIFO, not a regular file')
trace('csv-directory', {'dir': True}, 't.csv: is a directory')
trace('wrong-extension', H + '0,5,2\n', 'must end in .csv', name='t.txt')
J = lambda t, i, o: '{"timestamp": %s, "input_length": %s, "output_length": %s}\n' % (t, i, o)
trace('jsonl-not-json', J(0, 5, 1) + '{oops\n', 't.jsonl line 2: not valid JSON', name='t.jsonl')
trace('jsonl-not-object', '[0, 5, 1]\n', 't.jsonl line 1: not a JSON object', name='t.jsonl')
trace('jsonl-missing-output', '{"timestamp": 0, "input_length": 5}\n', "t.jsonl line 1, field 'output_length': missing", name='t.jsonl')
trace('jsonl-zero-input', J(0, 0, 1), "t.jsonl line 1, field 'input_length': 0 tokens", name='t.jsonl')
trace('jsonl-string-length', J(0, '"5"', 1), "field 'input_length': \"5\" is not a whole number", name='t.jsonl')
trace('jsonl-unsorted-time', J(5, 1, 1) + J(4, 1, 1), "t.jsonl line 2, field 'timestamp': 4 ms is before the previous row's 5 ms", name='t.jsonl')
trace('jsonl-negative-time', J(-3, 1, 1), "t.jsonl line 1, field 'timestamp': -3 ms is negative", name='t.jsonl')
trace('jsonl-beyond-positions', J(0, 500, 20), 't.jsonl line 1: prompt 500 + output 20 tokens need 519 positions', name='t.jsonl')
add('traffic-trace-missing', W + '{tmp}/none.csv', 2, 'none.csv: cannot open: No such file or directory')
add('traffic-bundled-beyond-positions', W + 'azure-conv', 2, 'azure-conv line 4: prompt 879 + output 55 tokens need 933 positions; tiny has 512|--length-scale')
add('traffic-offset-beyond-file', W + 'azure-code --request-offset 200', 2, '--request-offset 200: |azure-code.csv has only 200 requests')
add('traffic-count-beyond-file', W + 'azure-code --requests 150 --request-offset 100', 2, '--requests 150 from --request-offset 100: |has only 200 requests')
add('traffic-offset-with-distribution', W + 'uniform:64:8 --request-offset 2', 2, '--request-offset: only with a trace')
for tag, flag, value, says in [
        ('requests-zero', '--requests', '0', '--requests: 0 is out of range'),
        ('requests-text', '--requests', 'many', "--requests: 'many' is not an integer"),
        ('length-scale-zero', '--length-scale', '0', '--length-scale: 0 must be above 0'),
        ('length-scale-negative', '--length-scale', '=-2', '--length-scale: -2 must be above 0'),
        ('length-scale-nan', '--length-scale', 'nan', "--length-scale: 'nan' is not a finite number"),
        ('length-scale-huge', '--length-scale', '1e9', '--length-scale: 1e9 exceeds the most allowed'),
        ('arrival-unknown', '--arrival', 'bursty', "--arrival: 'bursty' is not offline, poisson, gamma or trace"),
        ('arrival-trace-of-distribution', '--arrival', 'trace', '--arrival trace: needs a trace'),
        ('poisson-without-rate', '--arrival', 'poisson', '--arrival poisson: needs --rate'),
        ('rate-without-arrival', '--rate', '2', '--rate: only with --arrival poisson or gamma'),
        ('batching-unknown', '--batching', 'dynamic', "--batching: unknown mode 'dynamic' (static, continuous, all)"),
        ('balance-unknown', '--balance', 'round-robin,fastest', "--balance: unknown mode 'fastest' (round-robin, shortest-queue, least-tokens, all)"),
        ('balance-underscore', '--balance', 'round_robin', "--balance: unknown mode 'round_robin'"),
        ('token-budget-static', '--token-budget', '64', '--token-budget: only with --batching continuous'),
        ('prefill-chunk-static', '--prefill-chunk', '16', '--prefill-chunk: only with --batching continuous'),
        ('slo-no-unit', '--slo', 'ttft=200', "--slo: 'ttft=200': '200' is not a time with its unit"),
        ('slo-unknown-key', '--slo', 'ttft=2s,latency=2s', "--slo: 'latency=2s' is not KEY=TIME"),
        ('slo-zero', '--slo', 'tpot=0ms', "--slo: 'tpot=0ms': a limit must be a finite time above 0"),
        ('slo-negative', '--slo', 'e2e=-1s', "--slo: 'e2e=-1s': a limit must be"),
        ('slo-nan', '--slo', 'itl=nanms', "--slo: 'itl=nanms': a limit must be"),
        ('slo-repeated', '--slo', 'ttft=1s,ttft=2s', "--slo: 'ttft=2s' gives ttft a second time"),
        ('slo-trailing-comma', '--slo', 'ttft=1s,', "--slo: '' is not KEY=TIME")]:
    add(f'traffic-{tag}', W + 'uniform:64:8 ' + flag + ('' if value.startswith('=') else ' ') + value, 2, says)
for tag, arrival, says in [('rate-zero', '--arrival poisson --rate 0', '--rate: 0 must be above 0'),
                           ('rate-negative', '--arrival poisson --rate=-3', '--rate: -3 must be above 0'),
                           ('rate-nan', '--arrival gamma --rate nan', "--rate: 'nan' is not a finite number"),
                           ('rate-inf', '--arrival poisson --rate inf', "--rate: 'inf' is not a finite number"),
                           ('burstiness-zero', '--arrival gamma --rate 1 --burstiness 0', '--burstiness: 0 must be above 0'),
                           ('burstiness-nan', '--arrival gamma --rate 1 --burstiness nan', "--burstiness: 'nan' is not a finite number"),
                           ('burstiness-with-poisson', '--arrival poisson --rate 1 --burstiness 0.5', '--burstiness: only with --arrival gamma'),
                           ('token-budget-negative', '--batching continuous --token-budget=-1', '--token-budget: -1 is out of range'),
                           ('prefill-chunk-text', '--batching continuous --prefill-chunk big', "--prefill-chunk: 'big' is not an integer")]:
    add(f'traffic-{tag}', W + 'uniform:64:8 ' + arrival, 2, says)
add('traffic-time-scale-zero', W + 'azure-conv --arrival trace --time-scale 0', 2, '--time-scale: 0 must be above 0')
add('traffic-time-scale-offline', W + 'azure-conv --time-scale 2', 2, '--time-scale: only with --arrival trace')
for tag, spec, says in [('unknown-law', 'poisson:1:2', "'poisson' is not a distribution"),
                        ('ratio-one', 'uniform:64:8:1', 'range ratio 1 must be in [0, 1)'),
                        ('ratio-text', 'uniform:64:8:wide', "range ratio 'wide' is not a finite number"),
                        ('zero-mean', 'uniform:0:8', 'input length 0 must be above 0'),
                        ('normal-one-number', 'normal:64:8', 'normal:IN_MEAN,IN_SD:OUT_MEAN,OUT_SD'),
                        ('lognormal-negative-sd', 'lognormal:64,-1:8,2', 'standard deviation -1'),
                        ('mix-without-weight', 'mix:uniform:64:8', 'is not WEIGHT*DISTRIBUTION'),
                        ('mix-zero-weight', "'mix:0*uniform:64:8+1*uniform:8:8'", 'mixture weight 0 must be above 0'),
                        ('mix-nested', "'mix:1*mix:1*uniform:64:8'", 'a mixture cannot hold a mixture')]:
    add(f'traffic-workload-{tag}', W + spec, 2, '--workload|' + says)
add('traffic-workload-empty', W + "''", 2, '--workload: an empty value is not allowed')
add('traffic-balance-without-workload', T + '--gpus 1 ' + base + ' --balance least-tokens', 2, '--balance: only with --workload')

with open(os.path.join(root, 'tests/data/hostile_inputs.tsv'), 'w') as f:
    f.write('# Hostile inputs for tests/test_hostile.cpp, one per line, tab-separated:\n')
    f.write('#   name  args  config  status  says\n')
    f.write('# args: the command line after the binary; {cfg} is the path of a file holding `config` (written\n')
    f.write('#   for the case; "-": none; "@empty": an empty file; "@dir": an empty directory; "@dirconfig JSON":\n')
    f.write('#   a directory holding config.json; "@files JSON": {cfg} is a directory of the files JSON describes, see\n')
    f.write('#   write_files in tests/test_hostile.cpp), {tmp} a scratch directory of the case. status: the expected\n')
    f.write('#   exit status. says: substrings the output must contain, |-separated; one starting with ! must not appear.\n')
    for r in rows: f.write('\t'.join(r) + '\n')
print(len(rows))
names=[r[0] for r in rows]; assert len(names)==len(set(names)), [n for n in names if names.count(n)>1]
