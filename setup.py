"""Only the draw's native kernels (core/_hmac.c, core/_numbers.c); everything else is in
pyproject.toml.

`optional=True`: without a C compiler the install still succeeds and core.draw falls back to
hashlib (the same digests, ~8x slower for a 43,000-expert pool) and to numpy for the texts of
numbers and the digests' sort (2-5x slower)."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("core._hmac", ["core/_hmac.c"], depends=["core/_hmac_lanes.h"], optional=True),
                   Extension("core._numbers", ["core/_numbers.c"], optional=True)])
