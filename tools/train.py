"""Train with the config's codebase (mmdet, mmpose, mmaction2, mmpretrain).

Usage: python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
       [--amp] [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
"""
from td_plugins.utils.launcher import run_train

if __name__ == '__main__':
    run_train()
