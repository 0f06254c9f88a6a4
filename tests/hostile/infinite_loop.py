# A cell that never finishes.
while True:
    pass
