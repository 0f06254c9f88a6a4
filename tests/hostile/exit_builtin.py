exit()
quit()
