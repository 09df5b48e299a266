"""A trainer publishes its state; evaluators follow it without slowing it down.

    python examples/trainer_evaluator.py [--backend shm|lmdb|zmq] [--steps 300]
                                         [--publish-every 10] [--evaluators 2]

The trainer process runs a (toy) gradient descent on NumPy weights and, every few steps,
publishes a snapshot of its state as it is: the step (``np.int64``), the loss
(``np.float64``), the weight arrays, its config and the loss of each finished epoch,
keyed by the epoch's number. Each evaluator process sleeps in ``wait_for_update`` until a
new snapshot appears, probes it cheaply with ``get("step")``, and, every ``--eval-every``
steps and at the end, takes a ``snapshot()``: a mapping pinned to one version, from which
it decodes only the keys it uses (with shared memory and ZeroMQ the weights it gets are
read-only views of the store's memory, not copies). The trainer never waits for the
evaluators: a slow evaluator skips snapshots, it does not hold the trainer up.

At the end the trainer publishes a snapshot with ``"done": True``; evaluators stop when
they see it, or when the trainer has closed the store (``StoreClosedError``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import time
from multiprocessing.synchronize import Event
from typing import Any

import numpy as np

from ipc_benchmark import (
    IPCBackend,
    IPCTimeoutError,
    LMDBBackend,
    SharedMemoryBackend,
    StoreClosedError,
    ZeroMQBackend,
)

BACKENDS: dict[str, type[IPCBackend]] = {
    "shm": SharedMemoryBackend,  # one machine, fastest
    "lmdb": LMDBBackend,  # one machine, and the last snapshot survives the trainer
    "zmq": ZeroMQBackend,  # readers may be on other machines (with a tcp:// endpoint)
}
Weights = dict[str, np.ndarray]


def say(line: str) -> None:
    # One write per line: print() writes the text and the newline separately, and the
    # processes' lines would interleave.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- the model: shared by both roles -------------------------------------------------


def targets(config: dict[str, Any]) -> Weights:
    """The weights the toy model converges to, drawn from the config's seed, so that an
    evaluator can rebuild them from the config in a snapshot."""
    rng = np.random.default_rng(config["seed"])
    return {layer: rng.uniform(-1, 1, size=shape)
            for layer, shape in config["layers"].items()}


def loss_of(weights: Weights, target: Weights) -> np.float64:
    """Mean squared distance to the targets: the trainer's loss, and what an evaluator
    recomputes from a snapshot's weights."""
    total = sum(float(np.square(weights[layer] - t).sum()) for layer, t in target.items())
    return np.float64(total / sum(t.size for t in target.values()))


# --- the trainer ---------------------------------------------------------------------


def trainer(backend_name: str, store: str, steps: int, publish_every: int,
            step_time: float, ready: Event, evaluators_done: Event, linger: float) -> None:
    config: dict[str, Any] = {"lr": 0.005, "noise": 0.05, "seed": 1234, "epoch_steps": 100,
                              "layers": {"embed": [16, 8], "dense": [8, 8], "head": [4]}}
    target = targets(config)
    rng = np.random.default_rng(config["seed"] + 1)
    weights = {layer: np.zeros_like(t) for layer, t in target.items()}
    epoch_loss: dict[int, float] = {}  # epoch number -> loss at its end

    with BACKENDS[backend_name]() as backend:  # cleanup() closes and removes the store
        backend.initialize(store, is_writer=True)
        ready.set()
        published = 0

        def publish(step: int, done: bool) -> None:
            nonlocal published
            # The arrays go in as they are: write() copies them into the store at once, so
            # the next update of `weights` cannot leak into a snapshot already published.
            backend.write({
                "step": np.int64(step),
                "loss": loss_of(weights, target),
                "weights": weights,
                "config": config,
                "epoch_loss": epoch_loss,
                "done": done,
            })
            published += 1

        for step in range(1, steps + 1):
            time.sleep(step_time)  # the forward and backward pass
            for layer, t in target.items():
                # d(loss)/dw, plus the noise of a minibatch
                grads = 2 * (weights[layer] - t) + rng.normal(0, config["noise"], t.shape)
                weights[layer] = weights[layer] - config["lr"] * grads
            if step % config["epoch_steps"] == 0:
                epoch_loss[step // config["epoch_steps"]] = float(loss_of(weights, target))
            if step % publish_every == 0 and step != steps:
                publish(step, done=False)
        publish(steps, done=True)
        say(f"trainer: {steps} steps, published {published} snapshots, "
            f"final loss {loss_of(weights, target):.6f}")
        # Keep the final snapshot available until the evaluators have it. A trainer that
        # closed at once would be fine too: they would get StoreClosedError instead.
        evaluators_done.wait(linger)


# --- an evaluator --------------------------------------------------------------------


def evaluator(index: int, backend_name: str, store: str, eval_every: int,
              timeout: float) -> None:
    who = f"evaluator {index}"
    with BACKENDS[backend_name]() as backend:
        backend.initialize(store, is_writer=False)
        seen = woken = evaluated = 0
        last_evaluated_step = 0
        while True:
            try:
                # Sleeps (no CPU) until the trainer publishes something newer than `seen`.
                seen = backend.wait_for_update(seen, timeout)
                woken += 1
                # A cheap probe: decodes one key of the newest snapshot, not the weights.
                step = backend.get("step")
                if not backend.get("done") and step - last_evaluated_step < eval_every:
                    continue
                # One version, pinned: every key taken from `snap` belongs to it, however
                # often the trainer publishes meanwhile (two get() calls could see two
                # versions). Only the keys used are decoded.
                with backend.snapshot() as snap:
                    evaluated += 1
                    step = int(snap["step"])
                    last_evaluated_step = step
                    # Evaluate the weights, and check that they and the loss the trainer
                    # reported come from the same step: a torn snapshot would disagree.
                    val_loss = loss_of(snap["weights"], targets(snap["config"]))
                    reported = snap["loss"]
                    epochs = snap["epoch_loss"]
                    done = snap["done"]
            except StoreClosedError:
                say(f"{who}: the trainer closed the store; stopping after {evaluated} "
                    "evaluations")
                return
            except IPCTimeoutError:
                sys.exit(f"{who}: no new snapshot within {timeout} s: is the trainer alive?")
            if not math.isclose(val_loss, reported, rel_tol=1e-12, abs_tol=1e-15):
                sys.exit(f"{who}: snapshot of step {step} is inconsistent: "
                         f"its weights give loss {val_loss}, it says {reported}")
            if type(reported) is not np.float64 or any(type(e) is not int for e in epochs):
                sys.exit(f"{who}: types were lost: loss {type(reported).__name__}, "
                         f"epochs {sorted(type(e).__name__ for e in epochs)}")
            say(f"{who}: step {step:5d}  loss {val_loss:.6f}  epochs done {len(epochs)}")
            if done:
                say(f"{who}: trainer finished at step {step}; woke "
                    f"{woken} times, evaluated {evaluated} snapshots")
                return


# --- both roles, as separate processes -----------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=sorted(BACKENDS), default="shm")
    p.add_argument("--steps", type=int, default=300, help="training steps (default: 300)")
    p.add_argument("--publish-every", type=int, default=10, metavar="N",
                   help="publish a snapshot every N steps (default: 10)")
    p.add_argument("--step-time", type=float, default=0.005, metavar="S",
                   help="seconds one training step takes (default: 0.005)")
    p.add_argument("--evaluators", type=int, default=2, help="evaluator processes (default: 2)")
    p.add_argument("--eval-every", type=int, default=50, metavar="N",
                   help="evaluate the full snapshot every N steps and at the end "
                        "(default: 50)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds an evaluator waits for a snapshot before giving up")
    p.add_argument("--name", default=f"trainer_{os.getpid()}",
                   help="store name (default: trainer_<pid>)")
    args = p.parse_args(argv)
    if args.steps < 1 or args.publish_every < 1 or args.evaluators < 0:
        p.error("--steps and --publish-every must be >= 1, --evaluators >= 0")

    # spawn: each role starts as a fresh interpreter, as separate programs would.
    ctx = mp.get_context("spawn")
    ready, evaluators_done = ctx.Event(), ctx.Event()
    train = ctx.Process(target=trainer, name="trainer", args=(
        args.backend, args.name, args.steps, args.publish_every, args.step_time, ready,
        evaluators_done, args.timeout))
    train.start()
    # Evaluators could attach before the store exists (they would wait for it), but for
    # LMDB and ZeroMQ a reader needs the writer's files or sockets in place first.
    while not ready.wait(0.1):
        if not train.is_alive():
            print(f"trainer failed to start (exit status {train.exitcode})", file=sys.stderr)
            return 1
    evals = [ctx.Process(target=evaluator, name=f"evaluator-{i}", args=(
        i, args.backend, args.name, args.eval_every, args.timeout))
        for i in range(args.evaluators)]
    for e in evals:
        e.start()
    for e in evals:
        e.join()
    evaluators_done.set()
    train.join()
    failed = [proc.name for proc in (train, *evals) if proc.exitcode != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
