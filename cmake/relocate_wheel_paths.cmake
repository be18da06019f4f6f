# Used only when building msg/ against the ROS 2 PyPI wheels (scripts/setup_venv.sh passes it as
# CMAKE_PROJECT_INCLUDE). The wheels' exported CMake targets name the include directories of the
# machine that built them (/opt/python/cp311-cp311/...). At the end of configuration this maps
# those paths onto this interpreter's include directories, in memory: no installed file is edited.
find_package(Python3 REQUIRED COMPONENTS Interpreter Development NumPy)
set(_egoexo_wheel_python_prefix "/opt/python/cp311-cp311")

function(egoexo_relocate_wheel_include_dirs)
  get_directory_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs OR NOT _dirs MATCHES "${_egoexo_wheel_python_prefix}")
      continue()
    endif()
    set(_fixed "")
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "numpy/.*include")
        list(APPEND _fixed "${Python3_NumPy_INCLUDE_DIRS}")
      elseif(_dir MATCHES "^${_egoexo_wheel_python_prefix}/include")
        list(APPEND _fixed "${Python3_INCLUDE_DIRS}")
      else()
        list(APPEND _fixed "${_dir}")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES _fixed)
    set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL egoexo_relocate_wheel_include_dirs)
