#!/usr/bin/env python3
"""Sends one file of FTCD bytes to a serial device and writes what comes back until the line has
been quiet for --quiet seconds (a UART has no end of stream to wait for).

usage: uart_exchange.py TTY REQUEST ANSWER [--quiet S] [--timeout S]"""
import argparse
import os
import select
import termios
import time
import tty


def main():
    p = argparse.ArgumentParser()
    p.add_argument("tty")
    p.add_argument("request")
    p.add_argument("answer")
    p.add_argument("--quiet", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=30.0)
    a = p.parse_args()
    fd = os.open(a.tty, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIOFLUSH)
    with open(a.request, "rb") as f:
        data = f.read()
    os.write(fd, data)
    got = bytearray()
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], a.quiet)
        if not ready:
            if got:
                break
            continue
        got += os.read(fd, 65536)
    os.close(fd)
    with open(a.answer, "wb") as f:
        f.write(got)
    return 0 if got else 1


if __name__ == "__main__":
    raise SystemExit(main())
