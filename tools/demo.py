"""The demo behind `make demo`: start the emulator, provision the baseline fleet, simulate two
weeks of usage, print the fleet, stop the emulator."""

from __future__ import annotations

import sys

from tools import baseline, fleet_view, simulator
from tools.emulator import Emulator

SUFFIX = "dev"


def main() -> int:
    with Emulator() as emulator:
        print(f"AWS emulator running at {emulator.endpoint}\n")
        session = emulator.session()
        spec, created = baseline.provision(session, SUFFIX)
        print(f"Provisioned the baseline fleet: {created} functions with suffix '{SUFFIX}' "
              f"in account {spec.account_id}\n")
        usage = simulator.simulate_fleet(session, SUFFIX)
        print("Simulated 14 days of usage:")
        print(simulator.summary(usage) + "\n")
        print("The fleet as it stands in the emulator:")
        print(fleet_view.render(fleet_view.describe(session, SUFFIX)))
    print("\nEmulator stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
