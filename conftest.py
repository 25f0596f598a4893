"""Settings shared by every test run of the repository (the workspace run and the core alone).

Hypothesis: no per-example deadline anywhere (a deadline measures the machine's load as much as
the code, and made CI fail at random); under ``CI`` the examples are derandomized (the same
examples every run) and no example database is kept, so a CI run is reproducible. What must stay
fast is made linear and guarded by tests that hang-guard it, never by a timing assertion.
"""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the core's tests can run without hypothesis only if none needs it
    pass
else:
    settings.register_profile("default", deadline=None)
    settings.register_profile(
        "ci",
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile(
        os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
    )
