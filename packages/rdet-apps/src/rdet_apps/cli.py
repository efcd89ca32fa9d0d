def main(argv=None) -> int:
    print("rdet: not yet")
    return 0
