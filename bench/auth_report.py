"""What bench/radius_auth.py (and bench/experiment.py) print: every round, the median round per
server and mode, and the ratios the acceptance criteria name."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

import loadgen
from common import Cpu


@dataclass
class Result:
    target: str
    mode: str  # "saturation" or "fixed"
    run: loadgen.Run
    cpu: Cpu  # servers' CPU during the run
    other_cpu_s: float  # everything else on the machine during the run
    turns: list[float] = field(default_factory=list)  # auth/s of each turn (saturation_round)

    def us(self, seconds: float) -> float:
        return seconds / self.run.sent * 1e6


def median_by_rate(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.run.per_s)[len(results) // 2]


def report(results: list[Result], args: argparse.Namespace) -> None:
    """Every round, then the median round per server and mode, then the ratios."""
    names = list(dict.fromkeys(r.target for r in results))
    width = max(9, *(len(n) for n in names))
    cores = os.cpu_count()
    print(f"\nper round (accepted/sent; other processes' CPU in % of {cores} cores)")
    for r in results:
        accepted = r.run.codes.get(loadgen.ACCESS_ACCEPT, 0)
        other = r.other_cpu_s / r.run.elapsed_s / cores * 100
        print(
            f"  {r.target:<{width}} {r.mode:<10} {r.run.per_s:>7.0f}/s  "
            f"p50 {r.run.percentile(0.5):6.2f}  p99 {r.run.percentile(0.99):7.2f} ms  "
            f"{accepted}/{r.run.sent}  lost {r.run.lost}  retx {r.run.retransmits}  "
            f"other {other:3.0f}%"
        )
    print(
        f"\nsaturation: {args.requests:,} logins per server a round, in {args.slices} turns, "
        f"{args.sockets * args.window} outstanding ({args.generator}); fixed: "
        f"{args.rate:,.0f}/s offered by loadgen, open loop, for "
        f"{args.seconds:g} s. Median round of {args.rounds}; CPU in us per auth.\n\n"
        f"{'server':<{width}} {'mode':<10} {'auth/s':>7} {'p50 ms':>7} {'p99 ms':>8} "
        f"{'accepted':>13} {'radiusd':>8} {'postgres':>8} {'server':>7} {'generator':>9}"
    )
    best = {}
    for mode in ("saturation", "fixed"):
        for name in names:
            rs = [r for r in results if r.target == name and r.mode == mode]
            if not rs:
                continue
            m = best[name, mode] = median_by_rate(rs)
            accepted = f"{m.run.codes.get(loadgen.ACCESS_ACCEPT, 0)}/{m.run.sent}"
            overloaded = mode == "fixed" and m.run.per_s < 0.97 * args.rate
            print(
                f"{name:<{width}} {mode:<10} {m.run.per_s:>7.0f} {m.run.percentile(0.5):>7.2f} "
                f"{m.run.percentile(0.99):>8.2f} {accepted:>13} {m.us(m.cpu.radius_s):>8.0f} "
                f"{m.us(m.cpu.postgres_s):>8.0f} {m.us(m.cpu.total_s):>7.0f} "
                f"{m.run.generator_us:>9.0f}"
                + ("  OVERLOADED: cannot sustain it" if overloaded else "")
            )
    sat = {n: [r for r in results if r.target == n and r.mode == "saturation"] for n in names}
    for a, b, label in [
        ("mnetifi-mix", "mnetifi", "mix/voucher-only"),
        ("mnetifi", "baseline", "vouchers/stock"),
    ]:
        if not (sat.get(a) and sat.get(b)):
            continue
        # A round's two runs took turns (radius_auth.saturation_round): a slow spell of the host
        # falls on both. experiment.py's whole runs were a minute apart at most.
        ratios = sorted(x.run.per_s / y.run.per_s for x, y in zip(sat[a], sat[b], strict=True))
        if a == "mnetifi-mix":
            # The figure: the median of these. The median runs (in brackets) may come from
            # different rounds, minutes apart.
            x, y = best[a, "saturation"].run.per_s, best[b, "saturation"].run.per_s
            print(
                f"\nPPPoE mix (half MS-CHAPv2 subscribers)/voucher-only at saturation: auth/s "
                f"{ratios[len(ratios) // 2]:.2f}x, the median round's (median runs {x:.0f} vs "
                f"{y:.0f}: {x / y:.2f}x); target >= 0.9x"
            )
        print(
            f"{label}, each round's two runs, lowest first: "
            + ", ".join(f"{x:.2f}" for x in ratios)
            + f" (median {ratios[len(ratios) // 2]:.2f}x)"
        )
        # Turn by turn: the two servers' turns of a round were a fraction of a second apart.
        turns = sorted(
            p / q
            for x, y in zip(sat[a], sat[b], strict=True)
            for p, q in zip(x.turns, y.turns, strict=True)
        )
        if len(turns) > len(ratios):
            n = len(turns)
            print(
                f"{label}, turn by turn ({n} pairs): median {turns[n // 2]:.2f}x, "
                f"middle half {turns[n // 4]:.2f}-{turns[(3 * n) // 4]:.2f}, "
                f"lowest {turns[0]:.2f}"
            )
    base = best.get(("baseline", "saturation"))
    for name in names:
        ours = best.get((name, "saturation"))
        if name in ("baseline", "mnetifi-mix") or not (ours and base):
            continue
        print(
            f"\n{name}/baseline at saturation: auth/s {ours.run.per_s / base.run.per_s:.2f}x, "
            f"server CPU per auth {ours.us(ours.cpu.total_s) / base.us(base.cpu.total_s):.2f}x "
            "the baseline's"
        )
    ours = [r for r in results if r.target != "baseline"]
    rejected = sum(r.run.codes.get(loadgen.ACCESS_REJECT, 0) for r in ours)
    if rejected:
        print(f"WARNING: {rejected} mnetifi logins were rejected; the figures are not valid")
    lost = sum(r.run.lost for r in results)
    if lost:
        print(f"{lost} requests got no answer after {loadgen.Blaster.retries} retries (overload)")
