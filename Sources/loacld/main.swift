print("loacld: not yet implemented")
