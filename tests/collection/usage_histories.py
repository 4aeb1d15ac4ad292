"""One function's simulated usage, written to the emulator, and the duration a guard must allow for it."""

from tools import simulator
from tools.usage_model import FULL_VCPU_MEMORY_MB, FunctionConfig, default_end, load_profiles, simulate

PROFILES, _ = load_profiles()


def with_usage(aws, make_function, name: str, profile: str, memory: int = 3008, timeout: int = 300,
               days: int = 14):
    """Create the function and write `days` days of the profile's usage for it."""
    make_function(name, active=True, MemorySize=memory, Timeout=timeout)
    usage = simulate(name, PROFILES[profile], FunctionConfig(memory, timeout), end=default_end(), days=days,
                     traffic_scale=0.25)
    simulator.write_usage(aws, usage)
    return usage


def worst_seconds(max_duration_ms: float, observed_at: int, memory: int, headroom: float = 1.5) -> float:
    """The observed max duration at `memory` if the work is CPU-bound, with headroom, in seconds."""
    slowdown = max(1.0, min(1.0, observed_at / FULL_VCPU_MEMORY_MB) / min(1.0, memory / FULL_VCPU_MEMORY_MB))
    return max_duration_ms * slowdown * headroom / 1000
