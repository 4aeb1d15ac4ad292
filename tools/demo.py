"""The demo behind `make demo`: start the emulator, provision the baseline fleet, simulate two
weeks of usage, then run playbooks/optimize.yml as a dry run and for real, show the fleet before
and after, and stop the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools import baseline, fleet_view, simulator
from tools.emulator import Emulator

SUFFIX = "dev"
ROOT = Path(__file__).resolve().parent.parent
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def heading(text: str) -> None:
    print(f"\n=== {text} ===\n", flush=True)


def optimize(emulator: Emulator, *flags: str) -> None:
    command = [ANSIBLE_PLAYBOOK, "playbooks/optimize.yml", "-e", f"suffix={SUFFIX}", *flags]
    print("$ " + " ".join(["ansible-playbook", *command[1:]]), flush=True)
    subprocess.run(command, cwd=ROOT, env=emulator.environ(), check=True)


def main() -> int:
    with Emulator() as emulator:
        print(f"AWS emulator running at {emulator.endpoint}")
        session = emulator.session()
        spec, created = baseline.provision(session, SUFFIX)
        print(f"Provisioned the baseline fleet: {created} functions with suffix '{SUFFIX}' "
              f"in account {spec.account_id}")

        heading("Simulated usage, 14 days")
        print(simulator.summary(simulator.simulate_fleet(session, SUFFIX)))

        heading("The baseline fleet")
        print(fleet_view.render(fleet_view.describe(session, SUFFIX)))

        heading("Dry run: the plan, nothing changed")
        optimize(emulator, "--check", "--diff")

        heading("Real run")
        optimize(emulator)

        heading("The optimized fleet")
        print(fleet_view.render(fleet_view.describe(session, SUFFIX)))
    print("\nEmulator stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
