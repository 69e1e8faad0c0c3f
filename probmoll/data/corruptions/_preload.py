"""Imported once by the forkserver that starts corruption workers.

Loading imagecorruptions and compiling its numba kernel (glass blur's pixel shuffle) here
means every worker forked from the server starts ready, instead of each one spending
seconds compiling it again.
"""

from .kernels import warm_up

warm_up()
