# make-venv.cmake - the nvml-pynvml test fixture: a virtual environment with NVIDIA's Python
# NVML bindings (nvidia-ml-py from PyPI, import name pynvml) for tests/nvml/test_pynvml.py.
# Usage: cmake -DPYTHON=python3 -DVENV=DIR -P make-venv.cmake
# Reuses DIR when pynvml already imports there. Any failure (no venv module, no network, no
# PyPI) is a test failure with pip's own message: the pynvml test must not be skipped quietly.
if(NOT PYTHON OR NOT VENV)
  message(FATAL_ERROR "usage: cmake -DPYTHON=python3 -DVENV=DIR -P make-venv.cmake")
endif()
if(EXISTS ${VENV}/bin/python)
  execute_process(COMMAND ${VENV}/bin/python -c "import pynvml" RESULT_VARIABLE have)
  if(have EQUAL 0)
    message(STATUS "pynvml already installed in ${VENV}")
    return()
  endif()
endif()
execute_process(COMMAND ${PYTHON} -m venv ${VENV} RESULT_VARIABLE r)
if(NOT r EQUAL 0)
  message(FATAL_ERROR "python3 -m venv ${VENV} failed (is python3-venv installed? "
                      "scripts/deps.sh installs it)")
endif()
execute_process(COMMAND ${VENV}/bin/pip install --quiet nvidia-ml-py RESULT_VARIABLE r)
if(NOT r EQUAL 0)
  message(FATAL_ERROR "pip install nvidia-ml-py failed: the pynvml test needs PyPI "
                      "(or a wheel in PIP_FIND_LINKS)")
endif()
execute_process(COMMAND ${VENV}/bin/python -c "import pynvml; print(pynvml.__file__)"
                RESULT_VARIABLE r)
if(NOT r EQUAL 0)
  message(FATAL_ERROR "nvidia-ml-py installed but pynvml does not import")
endif()
