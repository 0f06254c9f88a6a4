# One allocation of 8 TiB.
import numpy as np

big = np.ones((2**20, 2**20))
