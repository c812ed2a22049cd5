"""Entry point of the moto server child process (run by path, so it imports only moto and the stdlib).

Usage: python _moto_main.py <host> <port>
"""

import logging
import sys


def main() -> None:
    host, port = sys.argv[1], sys.argv[2]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s moto %(levelname)s %(name)s: %(message)s")
    # The Step Functions interpreter logs every state transition and swallowed error at INFO/WARNING.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.ERROR)
    # One line per request from werkzeug drowns everything else.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto import server

    server.main(["-H", host, "-p", port])


if __name__ == "__main__":
    main()
