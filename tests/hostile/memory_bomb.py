# Allocate until the memory limit says no; keep everything referenced.
import numpy as np

hoard = []
while True:
    hoard.append(np.ones(2**24))  # 128 MiB at a time
