#!/usr/bin/env python3
"""A plain SimPy model of scenarios/mm1.toml, for comparing speeds.

Poisson arrivals at lambda = 600/s into one FIFO server with exponential
service of mean 1ms (mu = 1000/s), for 1700 simulated seconds (about
1,020,000 messages): the queueing system mm1.toml describes, without the
log, offsets or commits eventsim also simulates. Prints the mean time in
system (theory: 1/(mu - lambda) = 2.5ms) and messages per wall second.

    pip install simpy
    python3 benches/simpy_mm1.py [simulated seconds]
"""
import random
import sys
import time

import simpy

LAMBDA, MU = 600.0, 1000.0


def main():
    horizon = float(sys.argv[1]) if len(sys.argv) > 1 else 1700.0
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    rng = random.Random(1)
    stats = {"n": 0, "total": 0.0}

    def job(created):
        with server.request() as req:
            yield req
            yield env.timeout(rng.expovariate(MU))
        stats["n"] += 1
        stats["total"] += env.now - created

    def arrivals():
        while True:
            yield env.timeout(rng.expovariate(LAMBDA))
            env.process(job(env.now))

    env.process(arrivals())
    started = time.perf_counter()
    env.run(until=horizon)
    wall = time.perf_counter() - started
    n = stats["n"]
    print(f"simpy {simpy.__version__}: {n} messages in {wall:.2f}s wall: "
          f"{n / wall:,.0f} messages/s; mean time in system "
          f"{1e3 * stats['total'] / max(n, 1):.4f} ms (theory 2.5 ms)")


if __name__ == "__main__":
    main()
