"""placeholder"""


def routes() -> list:
    return []
