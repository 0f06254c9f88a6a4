# Phone home: the kernel has no network.
import urllib.request

urllib.request.urlopen("https://pypi.org/simple/", timeout=5)
