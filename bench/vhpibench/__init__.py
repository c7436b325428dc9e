"""The vhpi benchmark as a package; `python3 bench/run.py` is its entry point.

    plan       what is measured: the keep count, intervals, rsync options, the cases
    trees      generating the source trees and changing 1 % of their files
    tools      vhpi, rsnapshot (cp -al and link_dest) and the rsync + cp -al floor: their
               configs, how each one runs, and vhpi's due times (through vhpi.act.state)
    measuring  timed runs in rotating order, the checks that a tool really rotated, the
               steady state every tool starts from, and the collected Results
    memory     the untimed peak-memory runs of vhpi and of its rsync processes
    results    the measurements of one run, as plain data
    report     the Markdown tables and summary lines: pure functions of Results, no IO
    machine    the description of the machine and tool versions that heads results.md
    cli        the command line and the whole run (see bench/README.md)

Standard library only; Python 3.9+. Only `tools` imports vhpi (its state code, which needs
none of vhpi's third-party dependencies), from this repository.
"""
