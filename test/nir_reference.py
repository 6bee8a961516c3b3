"""An independent NIR reader, writer and simulator for spikelr's NIR tests (h5py + numpy only).

    write CASE FILE          a NIR file of test case CASE, written with h5py in the spec's layout
    simulate FILE INPUT OUT  the NIR graph in FILE stepped by forward Euler (float64) on the input in
                             INPUT (JSON: {"dt", "input": [B][T][...NIR shape]}); OUT gets every
                             node's output per step and the smallest distance of a membrane to its
                             threshold (spikes of a float32 simulator can only differ below it)
    inspect FILE             the file's layout as JSON: every dataset's path, dtype, shape, values
                             and compression
    snntorch FILE INPUT OUT  the file loaded by snnTorch's import_from_nir and run on INPUT; OUT gets
                             its output per step (needs torch, and nir, nirtorch and snntorch on
                             PYTHONPATH: the optional peer test in test/nir.test.ts)

The equations are NIR's (nir/ir/neuron.py) under forward Euler with step dt:
    LIF      v <- v + dt/tau (v_leak - v + r I);   z = v > v_threshold;  v <- v_reset where z
    CubaLIF  i <- i + dt/tau_syn (-i + w_in I);    v <- v + dt/tau_mem (v_leak - v + r i);  as LIF
    LI       v <- v + dt/tau (v_leak - v + r I)
    IF, I    v <- v + r I   (no time constant: one step, as sinabs and snnTorch read them)
A node's input is the sum of its predecessors' outputs at this step; an edge that closes a cycle
(neuron -> weight -> the same neuron) carries the previous step's spikes.
"""
import json
import sys

import h5py
import numpy as np

STR = h5py.string_dtype()


def write_node(group, node):
    for key, value in node.items():
        if isinstance(value, dict):
            write_node(group.create_group(key), value)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=STR)
        elif isinstance(value, np.ndarray):
            group.create_dataset(key, data=value, dtype=value.dtype, compression="gzip")
        else:
            group.create_dataset(key, data=value)


def graph(nodes, edges):
    return {"type": "NIRGraph", "nodes": nodes, "edges": edges}


def case(name):
    rng = np.random.default_rng({"lif-li": 1, "cuba-recurrent": 2, "conv": 3, "subgraph": 4}[name])
    f32 = lambda *s, lo=-1.0, hi=1.0: rng.uniform(lo, hi, s).astype(np.float32)
    f64 = lambda *s, lo=0.0, hi=1.0: rng.uniform(lo, hi, s)
    dt = 1e-4
    if name == "lif-li":
        # every LIF parameter per neuron; r is not tau/dt (the input is scaled); v_leak is not 0
        tau = f64(8, lo=2e-4, hi=2e-3)
        return dt, [6], graph({
            "input": {"type": "Input", "shape": np.array([6])},
            "fc": {"type": "Affine", "weight": f32(8, 6), "bias": f32(8, lo=0, hi=0.3)},
            "lif": {"type": "LIF", "tau": tau, "r": tau / dt * f64(8, lo=0.5, hi=2), "v_leak": f64(8, lo=-0.2, hi=0.4),
                    "v_threshold": f64(8, lo=0.2, hi=0.8), "v_reset": np.zeros(8)},
            "out": {"type": "Linear", "weight": f32(4, 8)},
            "li": {"type": "LI", "tau": np.full(4, 5e-4), "r": f64(4, lo=3, hi=6), "v_leak": f64(4, lo=-0.5, hi=0.5)},
            "output": {"type": "Output", "shape": np.array([4])},
        }, [("input", "fc"), ("fc", "lif"), ("lif", "out"), ("out", "li"), ("li", "output")])
        # (keys are written in this order; h5py lists them sorted, which the reader must not depend on)
    if name == "cuba-recurrent":
        # CubaLIF with a recurrent Affine in a cycle (snnTorch's RSynaptic, flattened), then IF
        tau_mem = f64(7, lo=3e-4, hi=1e-3)
        return dt, [5], graph({
            "input": {"type": "Input", "shape": np.array([5])},
            "w": {"type": "Linear", "weight": f32(7, 5, lo=-0.5, hi=1.5)},
            "cuba": {"type": "CubaLIF", "tau_syn": np.full(7, 4e-4), "tau_mem": tau_mem, "r": tau_mem / dt * f64(7, lo=0.7, hi=1.3),
                     "v_leak": np.zeros(7), "v_threshold": np.full(7, 0.6), "v_reset": np.zeros(7), "w_in": f64(7, lo=2, hi=6)},
            "rec": {"type": "Affine", "weight": f32(7, 7, lo=-0.6, hi=0.6), "bias": f32(7, lo=-0.1, hi=0.1)},
            "w2": {"type": "Affine", "weight": f32(3, 7), "bias": f32(3, lo=0, hi=0.2)},
            "if": {"type": "IF", "r": f64(3, lo=0.5, hi=1.5), "v_threshold": np.array([0.5, 0.8, 1.0])},
            "output": {"type": "Output", "shape": np.array([3])},
        }, [("input", "w"), ("w", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "w2"), ("w2", "if"), ("if", "output")])
    if name == "conv":
        return dt, [2, 9, 9], graph({
            "input": {"type": "Input", "shape": np.array([2, 9, 9])},
            "conv1": {"type": "Conv2d", "weight": f32(3, 2, 3, 3, lo=-0.5, hi=1), "bias": f32(3, lo=0, hi=0.2), "stride": np.array([1, 1]),
                      "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": 1, "input_shape": np.array([9, 9])},
            "if1": {"type": "IF", "r": np.ones((3, 9, 9)), "v_threshold": np.repeat(np.array([0.6, 0.9, 1.2]), 81).reshape(3, 9, 9),
                    "v_reset": np.zeros((3, 9, 9))},
            "pool1": {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]), "padding": np.array([0, 0])},
            "conv2": {"type": "Conv2d", "weight": f32(4, 3, 3, 3, lo=-0.8, hi=0.6), "bias": f32(4, lo=0, hi=0.1), "stride": np.array([2, 2]),
                      "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": 1, "input_shape": np.array([4, 4])},
            "lif2": {"type": "LIF", "tau": np.full((4, 2, 2), 1e-3), "r": np.full((4, 2, 2), 10.0), "v_leak": np.zeros((4, 2, 2)),
                     "v_threshold": np.full((4, 2, 2), 1.5), "v_reset": np.zeros((4, 2, 2))},
            "pool2": {"type": "AvgPool2d", "kernel_size": np.array([1, 1]), "stride": np.array([1, 1]), "padding": np.array([0, 0])},
            "flat": {"type": "Flatten", "start_dim": 0, "end_dim": -1, "input_type": np.array([4, 2, 2])},
            "fc": {"type": "Affine", "weight": f32(5, 16), "bias": f32(5, lo=0, hi=0.2)},
            "lif3": {"type": "LIF", "tau": np.full(5, 2e-4), "r": np.full(5, 2.0), "v_leak": np.zeros(5), "v_threshold": np.full(5, 0.4),
                     "v_reset": np.zeros(5)},
            "output": {"type": "Output", "shape": np.array([5])},
        }, [("input", "conv1"), ("conv1", "if1"), ("if1", "pool1"), ("pool1", "conv2"), ("conv2", "lif2"), ("lif2", "pool2"),
            ("pool2", "flat"), ("flat", "fc"), ("fc", "lif3"), ("lif3", "output")])
    if name == "subgraph":
        # a recurrent LIF as a subgraph (snnTorch's RSynaptic export), then an integrator readout
        sub = graph({
            "input": {"type": "Input", "shape": np.array([6])},
            "lif": {"type": "LIF", "tau": np.full(6, 5e-4), "r": np.full(6, 5.0), "v_leak": np.zeros(6), "v_threshold": np.full(6, 0.5)},
            "lin": {"type": "Linear", "weight": f32(6, 6, lo=-0.5, hi=0.5)},
            "output": {"type": "Output", "shape": np.array([6])},
        }, [("input", "lif"), ("lif", "lin"), ("lin", "lif"), ("lif", "output")])
        return dt, [4], graph({
            "input": {"type": "Input", "shape": np.array([4])},
            "fc1": {"type": "Affine", "weight": f32(6, 4, lo=-0.3, hi=1), "bias": f32(6, lo=0, hi=0.2)},
            "rnn": sub,
            "fc2": {"type": "Linear", "weight": f32(2, 6)},
            "integrator": {"type": "I", "r": np.array([0.5, 2.0])},
            "output": {"type": "Output", "shape": np.array([2])},
        }, [("input", "fc1"), ("fc1", "rnn"), ("rnn", "fc2"), ("fc2", "integrator"), ("integrator", "output")])
    raise SystemExit(f"unknown case {name}")


def write(name, file):
    dt, _, g = case(name)
    with h5py.File(file, "w") as f:
        f.create_dataset("version", data="1.0.7", dtype=STR)
        write_node(f.create_group("node"), g)


# ---------------------------------------------------------------- reading and simulating

def read_group(group):
    out = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = read_group(item)
        else:
            value = item[()]
            out[key] = value.decode() if isinstance(value, bytes) else value
    return out


def inline(g, prefix=""):
    """Nodes and edges with subgraphs inlined, as (nodes, edges)."""
    nodes, edges, entry, exit_ = {}, [], {}, {}
    for name, node in g["nodes"].items():
        if node["type"] != "NIRGraph":
            nodes[name] = node
            continue
        inner_nodes, inner_edges = inline(node)
        ins = [k for k, n in inner_nodes.items() if n["type"] == "Input"]
        outs = [k for k, n in inner_nodes.items() if n["type"] == "Output"]
        for k, n in inner_nodes.items():
            if n["type"] not in ("Input", "Output"):
                nodes[f"{name}.{k}"] = n
        entry[name] = [f"{name}.{b}" for a, b in inner_edges if a == ins[0]]
        exit_[name] = [f"{name}.{a}" for a, b in inner_edges if b == outs[0]]
        edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in inner_edges if a != ins[0] and b != outs[0]]
    for a, b in g["edges"]:
        a, b = (a.decode() if isinstance(a, bytes) else a), (b.decode() if isinstance(b, bytes) else b)
        for s in exit_.get(a, [a]):
            for t in entry.get(b, [b]):
                edges.append((s, t))
    return nodes, edges


def conv2d(x, n):
    w, b = n["weight"].astype(np.float64), n["bias"].astype(np.float64)
    s, p = int(n["stride"][0]), int(n["padding"][0])
    x = np.pad(x, ((0, 0), (p, p), (p, p)))
    k = w.shape[2]
    oh, ow = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
    y = np.zeros((w.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, i, j] = np.einsum("ocab,cab->o", w, x[:, i * s:i * s + k, j * s:j * s + k]) + b
    return y


def pool(x, n, mean):
    k, s, p = int(n["kernel_size"][0]), int(n["stride"][0]), int(n["padding"][0])
    x = np.pad(x, ((0, 0), (p, p), (p, p)))
    oh, ow = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
    y = np.zeros((x.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, i * s:i * s + k, j * s:j * s + k]
            y[:, i, j] = window.mean(axis=(1, 2)) if mean else window.sum(axis=(1, 2))
    return y


def simulate(file, input_file, out_file):
    with h5py.File(file, "r") as f:
        g = read_group(f["node"])
    spec = json.load(open(input_file))
    dt = spec["dt"]
    nodes, edges = inline(g)
    neurons = {k for k, n in nodes.items() if n["type"] in ("LIF", "CubaLIF", "IF", "LI", "I")}
    pred = {k: [a for a, b in edges if b == k] for k in nodes}
    succ = {k: [b for a, b in edges if a == k] for k in nodes}
    # recurrent weights: neuron -> w -> the same neuron
    recurrent = {w: pred[w][0] for w in nodes if len(pred[w]) == 1 and succ[w] == pred[w] and pred[w][0] in neurons}
    order, seen = [], set()
    start = next(k for k, n in nodes.items() if n["type"] == "Input")

    def visit(k):  # depth-first topological order of the acyclic part
        if k in seen:
            return
        seen.add(k)
        for p in pred[k]:
            if p not in recurrent:
                visit(p)
        order.append(k)
    for k in nodes:
        visit(k)
    result = {k: [] for k in nodes}
    margin = np.inf
    for sample in spec["input"]:
        sample = np.array(sample, dtype=np.float64)
        state = {}
        outputs = {k: None for k in nodes}
        trace = {k: [] for k in nodes}
        for t in range(sample.shape[0]):
            previous = dict(outputs)
            for k in order:
                n = nodes[k]
                kind = n["type"]
                if kind == "Input":
                    outputs[k] = sample[t]
                    trace[k].append(outputs[k])
                    continue
                if k in recurrent:
                    continue
                x = sum(outputs[p] for p in pred[k] if p not in recurrent)
                for w, owner in recurrent.items():
                    if owner == k:  # the previous step's spikes (none before the first step), and the bias every step
                        wn = nodes[w]
                        z = previous[k] if previous[k] is not None else np.zeros(wn["weight"].shape[1])
                        x = x + wn["weight"].astype(np.float64) @ z + (wn["bias"] if "bias" in wn else 0)
                if kind == "Affine":
                    y = n["weight"].astype(np.float64) @ x + n["bias"]
                elif kind == "Linear":
                    y = n["weight"].astype(np.float64) @ x
                elif kind == "Conv2d":
                    y = conv2d(x, n)
                elif kind in ("SumPool2d", "AvgPool2d"):
                    y = pool(x, n, kind == "AvgPool2d")
                elif kind == "Flatten":
                    y = x.reshape(-1)
                elif kind == "Output":
                    y = x
                else:
                    v = state.get(k, np.zeros_like(x))
                    if kind == "CubaLIF":
                        i = state.get(k + "/i", np.zeros_like(x))
                        i = i + dt / n["tau_syn"] * (-i + n["w_in"] * x)
                        state[k + "/i"] = i
                        v = v + dt / n["tau_mem"] * (n["v_leak"] - v + n["r"] * i)
                    elif kind in ("LIF", "LI"):
                        v = v + dt / n["tau"] * (n["v_leak"] - v + n["r"] * x)
                    else:  # IF, I
                        v = v + n["r"] * x
                    if kind in ("LI", "I"):
                        y = v
                    else:
                        margin = min(margin, float(np.min(np.abs(v - n["v_threshold"]))))
                        y = (v > n["v_threshold"]).astype(np.float64)
                        v = np.where(y > 0, n.get("v_reset", np.zeros_like(v)), v)
                    state[k] = v
                outputs[k] = y
                trace[k].append(y)
        for k in nodes:
            if trace[k]:
                result[k].append(np.array(trace[k]).tolist())
    json.dump({"outputs": {k: v for k, v in result.items() if v}, "margin": margin}, open(out_file, "w"))


def inspect(file):
    out = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            value = item[()]
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, np.ndarray):
                value = [v.decode() if isinstance(v, bytes) else v for v in value.reshape(-1).tolist()]
            else:
                value = value.item() if hasattr(value, "item") else value
            out[name] = {"dtype": str(item.dtype), "shape": list(item.shape), "value": value, "compression": item.compression}
    with h5py.File(file, "r") as f:
        f.visititems(visit)
    print(json.dumps(out))


def snntorch(file, input_file, out_file):
    import nir
    import torch
    from snntorch.import_nir import import_from_nir
    net = import_from_nir(nir.read(file))
    x = torch.tensor(json.load(open(input_file))["input"], dtype=torch.float32)  # [B, T, ...]
    state, outputs = None, []
    for t in range(x.shape[1]):
        out, state = net(x[:, t], state)
        outputs.append(out.detach())
    json.dump({"output": torch.stack(outputs, 1).numpy().tolist()}, open(out_file, "w"))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "write":
        write(sys.argv[2], sys.argv[3])
    elif command == "simulate":
        simulate(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "inspect":
        inspect(sys.argv[2])
    elif command == "snntorch":
        snntorch(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(f"unknown command {command}")
