#!/usr/bin/env python3
"""PyTorch peer of one Prototypical-network update on few-shot Omniglot shapes (CPU yardstick).

Run by the peer's own python (torch, never a tfmeta dependency), in the style of
``../shared/peers/torch_maml_omniglot.py``, so that ``bench.compare_few_shot`` can time
``bench.few_shot_step --algorithm=protonet`` beside it:

Data   synthetic, fresh per update: T episodes, each N-way with K support and Q query images per
       class, x ~ U[-1,1] [*,1,28,28] (NCHW here, NHWC in TF), labels 0..N-1 grouped by class.
Net    Snell et al.'s Conv-4 embedding: 4 x [conv 3x3, 64 filters, padding 1 -> BatchNorm
       (batch statistics in training, running averages kept, eps 1e-3, momentum 0.01 as Keras'
       0.99) -> ReLU -> 2x2 max-pool], flattened: 28 -> 14 -> 7 -> 3 -> 1, 64 features.
Loss   per episode, prototypes are the class means of the support embeddings; a query's logits
       are minus its squared Euclidean distances to them; softmax cross-entropy, the mean over
       every query of every episode. Adam(--outer-lr) on the embedding.
Form   every image of every episode through the embedding in one batch (what a PyTorch user
       writes; tfmeta embeds the same batch): --tasks-mode batched, the only form.
Timing median wall time of --steps updates after --warmup (data drawn inside the timed region);
       peak RSS = ru_maxrss. Prints one JSON line at the end, with the keys of the MAML peer.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import time

if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


def embedding() -> nn.Module:
    blocks, channels = [], 1
    for _ in range(4):
        blocks += [nn.Conv2d(channels, 64, 3, padding=1), nn.BatchNorm2d(64, eps=1e-3,
                                                                          momentum=0.01),
                   nn.ReLU(), nn.MaxPool2d(2)]
        channels = 64
    return nn.Sequential(*blocks, nn.Flatten())


def make_batch(tasks, ways, shots, queries):
    support = torch.rand(tasks, ways * shots, 1, 28, 28) * 2 - 1
    query = torch.rand(tasks, ways * queries, 1, 28, 28) * 2 - 1
    labels = torch.arange(ways).repeat_interleave(queries).repeat(tasks, 1)
    return support, query, labels


def episode_loss(net, support, query, labels, ways, shots):
    tasks = support.shape[0]
    features = net(torch.cat([support, query], 1).flatten(0, 1)).view(tasks, -1, 64)
    prototypes = features[:, :ways * shots].view(tasks, ways, shots, 64).mean(2)
    logits = -torch.cdist(features[:, ways * shots:], prototypes).pow(2)
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--algorithm", choices=["protonet"], default="protonet")
    ap.add_argument("--ways", type=int, default=60)
    ap.add_argument("--shots", type=int, default=1)
    ap.add_argument("--queries", type=int, default=5, help="query images per class")
    ap.add_argument("--tasks", type=int, default=1, help="episodes per update")
    ap.add_argument("--inner-steps", type=int, default=0, choices=[0], help="none: no inner loop")
    ap.add_argument("--outer-lr", type=float, default=1e-3)
    ap.add_argument("--tasks-mode", choices=["batched"], default="batched")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = embedding()
    opt = torch.optim.Adam(net.parameters(), lr=a.outer_lr)
    times = []
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        support, query, labels = make_batch(a.tasks, a.ways, a.shots, a.queries)
        opt.zero_grad(set_to_none=True)
        loss = episode_loss(net, support, query, labels, a.ways, a.shots)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({
        "side": "peer", "framework": f"torch {torch.__version__}", "algorithm": a.algorithm,
        "ways": a.ways, "shots": a.shots, "queries": a.queries, "tasks": a.tasks,
        "inner_steps": a.inner_steps, "outer_lr": a.outer_lr, "tasks_mode": a.tasks_mode,
        "threads": a.threads, "sec_per_meta_update": statistics.median(times),
        "min_sec": min(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rss_before_first_update_mb": rss_before, "final_loss": float(loss),
        "machine": platform.processor() or platform.machine()}))


if __name__ == "__main__":
    main()
