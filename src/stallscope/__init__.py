"""stallscope: find where distributed ML pipelines stall.

This package file stays import-free: stallscope.engine is shipped to remote hosts as Ansible
module_utils, and Ansible ships every package __init__ on the way to it.
"""

__version__ = "0.1.0"
