#!/usr/bin/python3
"""Float64 references for the published models of ../shared/realworld-models: each model is rebuilt from its
model.json (as its authors published it) out of generate.py's PyTorch layers, with the weights, batch and probe vector
that export.ts synthesized, and its Hessian-vector product H v is computed in float64 by autograd. A compact record is
committed per model in test/fixtures/realworld/<name>.json (the model and weights are not): the loss value, |H v|,
v.H v, and H v at 256 coordinates (the 128 largest in magnitude and 128 evenly spaced).

    node --import tsx test/realworld/export.ts /tmp/realworld
    /usr/bin/python3 test/realworld/reference.py /tmp/realworld [names...]
"""
import io
import json
import os
import sys
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'fixtures', 'golden'))
import generate as g  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT = os.path.join(HERE, '..', 'fixtures', 'realworld')


def snake(config):
    out = {}
    for k, v in config.items():
        s = ''.join('_' + c.lower() if c.isupper() else c for c in k)
        out[s] = v
    return out


def pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def activation_name(a):
    if isinstance(a, dict):
        return a.get('config', {}).get('activation') or a.get('class_name', '').lower()
    return a or 'linear'


def make_layer(cls, cfg):
    """A generate.py layer for a Keras layer config (the classes the corpus uses)."""
    name = cfg['name']
    act = activation_name(cfg.get('activation'))
    if cls == 'Dense':
        return g.Dense(name, cfg['units'], act, use_bias=cfg.get('use_bias', True))
    if cls in ('Conv1D', 'Conv2D'):
        rank = int(cls[4])
        k, s, d = cfg['kernel_size'], cfg.get('strides', 1), cfg.get('dilation_rate', 1)
        return g.Conv(name, rank, cfg['filters'], k if rank == 2 else k[0] if isinstance(k, list) else k,
                      strides=s if rank == 2 else s[0] if isinstance(s, list) else s, padding=cfg['padding'],
                      dilation=d if rank == 2 else d[0] if isinstance(d, list) else d, activation=act,
                      use_bias=cfg.get('use_bias', True))
    if cls == 'DepthwiseConv2D':
        return g.DepthwiseConv2D(name, cfg['kernel_size'], depth_multiplier=cfg.get('depth_multiplier', 1),
                                 strides=cfg.get('strides', 1), padding=cfg['padding'],
                                 dilation=cfg.get('dilation_rate', 1), activation=act,
                                 use_bias=cfg.get('use_bias', True))
    if cls == 'Conv2DTranspose':
        return g.Conv2DTranspose(name, cfg['filters'], cfg['kernel_size'], strides=cfg.get('strides', 1),
                                 padding=cfg['padding'], activation=act, use_bias=cfg.get('use_bias', True))
    if cls == 'MaxPooling2D':
        return g.Pool2D(name, 'max', pool_size=cfg.get('pool_size', 2), strides=cfg.get('strides'),
                        padding=cfg.get('padding', 'valid'))
    if cls == 'GlobalAveragePooling2D':
        return g.GlobalAveragePooling(name, 2)
    if cls == 'Flatten':
        return g.Flatten(name)
    if cls == 'Reshape':
        return g.Reshape(name, cfg['target_shape'])
    if cls == 'Dropout':
        return g.Dropout(name, cfg.get('rate', 0.5))
    if cls == 'Activation':
        return g.Activation(name, act)
    if cls == 'BatchNormalization':
        return g.BatchNormalization(name, epsilon=cfg.get('epsilon', 1e-3))
    if cls == 'Rescaling':
        return g.Rescaling(name, cfg['scale'], cfg.get('offset', 0.0))
    if cls == 'Concatenate':
        return g.Concatenate(name)
    if cls == 'UpSampling2D':
        return g.UpSampling2D(name, pair(cfg.get('size', 2)))
    if cls in ('SimpleRNN', 'GRU', 'LSTM'):
        return g.Recurrent(name, cls, cfg['units'], activation=act,
                           recurrent_activation=activation_name(cfg.get('recurrent_activation', 'sigmoid')),
                           use_bias=cfg.get('use_bias', True), return_sequences=cfg.get('return_sequences', False),
                           go_backwards=cfg.get('go_backwards', False), reset_after=cfg.get('reset_after', True))
    raise SystemExit(f'reference.py has no layer for {cls}')


def graph(model_json):
    """[(layer, [input names])] in file order (already topological in the corpus), input names, output name."""
    top = model_json['modelTopology']
    top = top.get('model_config', top)
    config = top['config']
    entries = config['layers'] if isinstance(config, dict) else config
    nodes, inputs = [], []
    prev = None
    for i, e in enumerate(entries):
        cls = e['class_name']
        cfg = snake(e['config'])
        name = e.get('name') or cfg['name']
        if top['class_name'] == 'Sequential':
            if cls == 'InputLayer':
                inputs.append(name)
                prev = name
                continue
            if prev is None:
                prev = f'{name}_input'
                inputs.append(prev)
            nodes.append((make_layer(cls, cfg), [prev]))
            prev = name
        else:
            if cls == 'InputLayer':
                continue
            refs = [r[0] for r in e['inbound_nodes'][0]]
            nodes.append((make_layer(cls, cfg), refs))
    if top['class_name'] == 'Sequential':
        return nodes, inputs, prev
    return nodes, [r[0] for r in config['input_layers']], \
        (list(config['output_layers'].values()) if isinstance(config['output_layers'], dict)
         else config['output_layers'])[0][0]


def npz(path):
    with zipfile.ZipFile(path) as z:
        return {n[:-4]: np.load(io.BytesIO(z.read(n))) for n in z.namelist()}


def main(argv):
    src = argv[0]
    names = argv[1:] or sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        d = os.path.join(src, name)
        case = json.load(open(os.path.join(d, 'case.json')))
        model_json = json.load(open(case['modelJson']))
        nodes, input_names, output = graph(model_json)
        weights = {k: torch.as_tensor(v.astype(np.float64)) for k, v in npz(os.path.join(d, 'weights.npz')).items()}
        xs = npz(os.path.join(d, 'inputs.npz'))
        values0 = {n: torch.as_tensor(xs[key].astype(np.float64)) for n, key in zip(input_names, case['inputNames'])}
        t = torch.as_tensor(np.load(os.path.join(d, 'targets.npy')).astype(np.float64))
        v = torch.as_tensor(np.load(os.path.join(d, 'vector.npy')))
        layout = case['layout']
        theta0 = torch.cat([weights[p['name']].reshape(-1) for p in layout])
        loss = {'reduction': 'mean', 'fromLogits': False, 'delta': 1.0, **case['loss']}
        out_layer = [layer for layer, _ in nodes if layer.name == output][0]
        fused = loss['name'] in g.FUSABLE and getattr(out_layer, 'activation', 'linear') == g.FUSABLE[loss['name']]

        def total_loss(theta):
            w = dict(weights)
            for p in layout:
                w[p['name']] = theta[p['offset']:p['offset'] + p['size']].reshape(p['shape'])
            values = dict(values0)
            last = None
            for layer, ins in nodes:
                short = {k.split('/', 1)[1]: val for k, val in w.items() if k.split('/', 1)[0] == layer.name}
                last = layer.forward([values[i] for i in ins], short)
                values[layer.name] = last[1]
            z = last[0] if fused else last[1]
            return g.reduce(loss, g.per_example_loss(loss, z, t, fused))

        theta = theta0.clone().requires_grad_(True)
        value = total_loss(theta)
        (grad,) = torch.autograd.grad(value, theta, create_graph=True)
        (hv,) = torch.autograd.grad(grad, theta, grad_outputs=v)
        hv = hv.detach().numpy()
        p = hv.size
        top = np.argsort(-np.abs(hv))[:128]
        spaced = np.linspace(0, p - 1, 128).astype(np.int64)
        idx = np.unique(np.concatenate([top, spaced]))
        record = {
            'name': name, 'numParams': int(p), 'numExamples': case['numExamples'], 'seeds': case['seeds'],
            'loss': case['loss'], 'lossValue': float(value), 'hvNorm': float(np.linalg.norm(hv)),
            'vHv': float(v.numpy() @ hv), 'indices': idx.tolist(), 'hv': hv[idx].tolist(),
        }
        with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
            json.dump(record, f, indent=0)
            f.write('\n')
        print(f'{name:36s} P={p:8d} loss={float(value):.6g} |Hv|={record["hvNorm"]:.6g}')


if __name__ == '__main__':
    main(sys.argv[1:])
