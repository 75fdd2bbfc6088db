"""Experiment: all-MiniLM-L6-v2 on onnxruntime, the graph built from our safetensors weights.

Not used by Switchboard: it gives the same vectors as the numpy encoder but was not faster on
this machine (bench/embeddings.md). Kept so the result can be reproduced. Runs in a throwaway
venv (onnx and onnxruntime are no dependencies of Switchboard):

    python3 -m venv /tmp/ortvenv
    /tmp/ortvenv/bin/pip install onnx onnxruntime numpy tokenizers safetensors
    /tmp/ortvenv/bin/python bench/encoder_onnx.py [--model-dir var/encoder/all-MiniLM-L6-v2] [--threads 1]

Builds the BERT graph with onnx.helper (opset 17: LayerNormalization, Erf GELU, fused QKV like
triage/embeddings.py), checks it against tests/fixtures/encoder_golden.json and measures the same
single-text and 8-thread latencies as bench/encoder_latency.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "fixtures" / "encoder_golden.json"
BANKING77 = ROOT.parent / "shared" / "datasets" / "banking77" / "train.csv"


def build_graph(model_dir: Path) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text("utf-8"))
    weights = load_file(str(model_dir / "model.safetensors"))
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    initializers: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: Any) -> str:
        array = np.asarray(value)
        initializers.append(numpy_helper.from_array(array if array.ndim == 0 else np.ascontiguousarray(array), name))
        return name

    def op(kind: str, inputs: list[str], **attributes: Any) -> str:
        output = f"t{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [output], **attributes))
        return output

    def w(name: str) -> np.ndarray:
        return weights[name].astype(np.float32)

    def dense(x: str, prefix: str, weight: np.ndarray, bias: np.ndarray) -> str:
        return op("Add", [op("MatMul", [x, const(prefix + "w", weight.T)]), const(prefix + "b", bias)])

    def layer_norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", [x, const(prefix + "w", w(prefix + ".weight")), const(prefix + "b", w(prefix + ".bias"))],
                  axis=-1, epsilon=config["layer_norm_eps"])

    position = w("embeddings.position_embeddings.weight") + w("embeddings.token_type_embeddings.weight")[0]
    length = op("Slice", [op("Shape", ["input_ids"]), const("one", [1]), const("two", [2])])
    x = op("Add", [op("Gather", [const("word", w("embeddings.word_embeddings.weight")), "input_ids"]),
                   op("Slice", [const("position", position), const("zero", [0]), length, const("axis0", [0])])])
    x = layer_norm(x, "embeddings.LayerNorm")
    mask = op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = op("Unsqueeze", [op("Mul", [op("Sub", [const("onef", np.float32(1)), mask]), const("neg", np.float32(-1e9))]),
                            const("axes12", [1, 2])])
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        names = ("query", "key", "value")
        qkv = dense(x, p + "qkv", np.concatenate([w(p + f"attention.self.{n}.weight") for n in names]),
                    np.concatenate([w(p + f"attention.self.{n}.bias") for n in names]))
        qkv = op("Transpose", [op("Reshape", [qkv, const(p + "shape5", [0, 0, 3, heads, hidden // heads])])], perm=[2, 0, 3, 1, 4])
        q, k, v = (op("Gather", [qkv, const(p + f"index{j}", j)], axis=0) for j in range(3))
        scores = op("Mul", [op("MatMul", [q, op("Transpose", [k], perm=[0, 1, 3, 2])]),
                            const(p + "scale", np.float32(1 / np.sqrt(hidden // heads)))])
        probabilities = op("Softmax", [op("Add", [scores, bias])], axis=-1)
        context = op("Reshape", [op("Transpose", [op("MatMul", [probabilities, v])], perm=[0, 2, 1, 3]),
                                 const(p + "shape3", [0, 0, hidden])])
        attended = dense(context, p + "out", w(p + "attention.output.dense.weight"), w(p + "attention.output.dense.bias"))
        x = layer_norm(op("Add", [attended, x]), p + "attention.output.LayerNorm")
        up = dense(x, p + "up", w(p + "intermediate.dense.weight"), w(p + "intermediate.dense.bias"))
        erf = op("Erf", [op("Mul", [up, const(p + "rsqrt2", np.float32(0.7071067811865476))])])
        gelu = op("Mul", [op("Mul", [up, const(p + "half", np.float32(0.5))]), op("Add", [erf, const(p + "onef", np.float32(1))])])
        down = dense(gelu, p + "down", w(p + "output.dense.weight"), w(p + "output.dense.bias"))
        x = layer_norm(op("Add", [down, x]), p + "output.LayerNorm")
    mask3 = op("Unsqueeze", [mask, const("axis_last", [-1])])
    summed = op("ReduceSum", [op("Mul", [x, mask3]), const("axis1", [1])], keepdims=0)
    count = op("Max", [op("ReduceSum", [mask3, const("axis1b", [1])], keepdims=0), const("tiny", np.float32(1e-9))])
    nodes.append(helper.make_node("Div", [summed, count], ["pooled"]))
    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "length"]) for name in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def percentiles(timings: list[float]) -> str:
    p50, p90, p99 = np.percentile(timings, [50, 90, 99])
    return f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms"


def main() -> None:
    import onnxruntime
    from tokenizers import Tokenizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", type=Path, default=ROOT / "var" / "encoder" / "all-MiniLM-L6-v2")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    start = time.perf_counter()
    session = onnxruntime.InferenceSession(build_graph(args.model_dir).SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    print(f"build + session: {time.perf_counter() - start:.2f} s, intra-op threads {args.threads}")
    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=128)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(texts: list[str]) -> np.ndarray:
        encodings = tokenizer.encode_batch([" ".join(t.split()) for t in texts])
        feeds = {"input_ids": np.array([e.ids for e in encodings], np.int64),
                 "attention_mask": np.array([e.attention_mask for e in encodings], np.int64)}
        pooled = session.run(None, feeds)[0]
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    golden = json.loads(GOLDEN.read_text("utf-8"))
    expected = np.array(golden["vectors"])
    for label, ours in (("one at a time", np.vstack([encode([t]) for t in golden["texts"]])), ("batched", encode(golden["texts"]))):
        print(f"parity {label}: min cosine {(ours * expected).sum(axis=1).min():.7f}, max abs diff {np.abs(ours - expected).max():.1e}")

    with BANKING77.open(encoding="utf-8") as handle:
        queries = list(dict.fromkeys(row["text"] for row in csv.DictReader(handle)))[:200]
    for text in queries[:20]:
        encode([text + " warm-up"])
    timings = []
    for text in queries:
        start = time.perf_counter()
        encode([text])
        timings.append((time.perf_counter() - start) * 1000)
    print(f"query: {percentiles(timings)}")
    timings, lock = [], threading.Lock()

    def work(part: list[str]) -> None:
        for text in part:
            began = time.perf_counter()
            encode([text])
            with lock:
                timings.append((time.perf_counter() - began) * 1000)

    workers = [threading.Thread(target=work, args=([f"{t} [{k}]" for t in queries[k::8]],)) for k in range(8)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(f"query, 8 threads at once: {percentiles(timings)}; {len(timings) / (time.perf_counter() - start):.0f} texts/s, "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
