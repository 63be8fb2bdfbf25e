"""Golden logits from HuggingFace transformers (see scripts/hf-golden).

For each OUT/NAME holding checkpoint/ (written by `llmthreads export-weights`) and
llmthreads.safetensors (written by `llmthreads bench --dump-logits`), loads the checkpoint with
transformers in fp32 with eager attention, runs one causal forward pass over the token ids
llmthreads used, and writes OUT/NAME/golden.safetensors: input_ids/W and logits/W, [gen, batch,
vocab], the logits of positions prompt - 1 .. prompt + gen - 2 (step 0 is the prefill's last
position, step k the k-th teacher-forced decode step), for every workload W.
"""
import json
import re
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM


def read_safetensors(path):
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    kinds = {"F32": np.float32, "I32": np.int32}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[8 + length + begin : 8 + length + end]
        out[name] = np.frombuffer(raw, dtype=kinds[info["dtype"]]).reshape(info["shape"])
    return out


def write_safetensors(path, tensors, metadata):
    kinds = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        blob = array.tobytes()
        header[name] = {"dtype": kinds[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def golden(case):
    ours = read_safetensors(case / "llmthreads.safetensors")
    model = AutoModelForCausalLM.from_pretrained(case / "checkpoint", torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    tensors = {}
    for name, ids in ours.items():
        if not name.startswith("input_ids/"):
            continue
        workload = name.split("/", 1)[1]
        prompt, gen = (int(x) for x in re.fullmatch(r"b\d+\.p(\d+)\.g(\d+)", workload).groups())
        with torch.no_grad():
            logits = model(torch.tensor(ids, dtype=torch.long)).logits  # [batch, positions, vocab]
        steps = logits[:, prompt - 1 : prompt - 1 + gen, :].permute(1, 0, 2).contiguous().numpy().astype(np.float32)
        tensors[name] = ids.astype(np.int32)
        tensors["logits/" + workload] = steps
        reference = ours.get("reference/" + workload)
        if reference is not None:
            error = float(np.max(np.abs(reference - steps)) / np.max(np.abs(steps)))
            print(f"{case.name} {workload}: llmthreads' reference differs from transformers by {error:.2e} of the largest logit")
    metadata = {"transformers": transformers.__version__, "torch": torch.__version__, "case": case.name}
    write_safetensors(case / "golden.safetensors", tensors, metadata)


def main():
    out = Path(sys.argv[1])
    cases = sorted(p for p in out.iterdir() if (p / "llmthreads.safetensors").exists())
    if not cases:
        sys.exit(f"{out}: no case prepared (run `scripts/hf-golden prepare {out}` first)")
    for case in cases:
        golden(case)


if __name__ == "__main__":
    main()
