"""A healed split brain on real kernels: the client moves to the winner at once.

The two routers cannot hear each other (bridge port isolation), so both
runners become Master; a client's neighbour entry for the VIP points at the
loser. The heal comes right after the loser's advert, and the loser advertises
every 3 s, the winner every second, so that the winner's advert comes first
and the loser steps down on it (the hard order: the winner
never hears a lower-priority advert). The loser's priority-0 advert as it
leaves makes the winner re-announce: the client's entry must point at the
winner's MAC within about one advertisement interval.
"""

from __future__ import annotations

import time

from lab import Lab, Router
from lab.runner import (
    RunnerProc,
    neighbour_mac,
    single_instance,
    stats_of,
    wait_state,
)

VIP = "192.0.2.100"
INTERVAL = 1.0
LOSER_INTERVAL = 3.0


def cut_between_routers(lab: Lab, routers: tuple[Router, ...], *, cut: bool) -> None:
    """Bridge port isolation: isolated ports cannot reach each other, each still
    reaches the client (whose port is not isolated). It blocks protocol 112
    between the routers both ways; the lab's kernel has neither nftables nor the
    tc drop action, so this is the partition at hand.
    """
    for router in routers:
        lab.run(
            lab.switch_ns,
            [
                "bridge",
                "link",
                "set",
                "dev",
                router.bridge_port,
                "isolated",
                "on" if cut else "off",
            ],
            check=True,
        )


def test_the_winner_reannounces_when_the_loser_hears_it_first(lab: Lab) -> None:
    r1 = lab.add_router("r1", v4="192.0.2.11/24")
    r2 = lab.add_router("r2", v4="192.0.2.12/24")
    client = lab.add_router("c", v4="192.0.2.50/24")
    cut_between_routers(lab, (r1, r2), cut=True)
    vips = [f"{VIP}/24"]
    winner = RunnerProc(
        lab, r1, single_instance("vi", vrid=51, priority=200, vips=vips, interval=INTERVAL)
    ).start()
    # The loser advertises every LOSER_INTERVAL: after the heal that follows
    # its advert, the winner's advert comes first for sure.
    loser = RunnerProc(
        lab, r2, single_instance("vi", vrid=51, priority=100, vips=vips, interval=LOSER_INTERVAL)
    ).start()
    wait_state(winner, "vi", "MASTER", timeout=10)
    wait_state(loser, "vi", "MASTER", timeout=20)
    # The client was served by the loser (its gratuitous ARP came last).
    lab.run(
        client,
        ["ip", "neigh", "replace", VIP, "lladdr", r2.mac, "dev", "eth0", "nud", "stale"],
        check=True,
    )
    assert neighbour_mac(lab, client, VIP) == r2.mac.lower()

    # Heal right after the loser's advert: the winner's comes first.
    sent = stats_of(loser, "vi").get("adverts_sent", 0)
    lab.wait_for(
        lambda: stats_of(loser, "vi").get("adverts_sent", 0) > sent,
        timeout=3,
        interval=0.005,
        what="an advert of the loser",
    )
    healed = time.monotonic()
    cut_between_routers(lab, (r1, r2), cut=False)
    lab.wait_for(
        lambda: neighbour_mac(lab, client, VIP) == r1.mac.lower(),
        timeout=INTERVAL + 3,
        interval=0.01,
        what="the client's entry for the VIP at the winner's MAC",
    )
    took = time.monotonic() - healed
    print(f"client at the winner {took:.3f} s after the heal")
    # One interval for the winner's next advert, and room for a noisy machine.
    assert took < INTERVAL + 0.6, took
    wait_state(loser, "vi", "BACKUP", timeout=2)
    assert winner.state_of("vi") == "MASTER"
    assert lab.has_address(r1, VIP) and not lab.has_address(r2, VIP)
