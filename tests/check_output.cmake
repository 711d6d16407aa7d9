# Runs a program and checks what it printed on stdout.
#
#   cmake -DPROGRAM=<executable>
#         -DEXPECTED=<line>|<line>|...      lines separated by '|'
#         [-DMODE=exact|line]
#         -P check_output.cmake
#
# MODE exact (the default): stdout must be exactly the EXPECTED lines, each
# ending in a newline, nothing before, between or after them.
# MODE line: stdout must contain each EXPECTED line as a whole line.
# Either way the program must exit with status 0, and its stderr must hold
# no sanitizer report. On failure the script says what differed, shows both
# outputs, and exits non-zero (CTest counts that as a failure).

if(NOT DEFINED PROGRAM OR NOT DEFINED EXPECTED)
  message(FATAL_ERROR "check_output.cmake: PROGRAM and EXPECTED are required")
endif()
if(NOT DEFINED MODE)
  set(MODE exact)
endif()

execute_process(
  COMMAND "${PROGRAM}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)

set(report "--- stdout of ${PROGRAM}:\n${out}--- stderr:\n${err}---")

if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${PROGRAM} exited with '${rc}', not 0\n${report}")
endif()
if(err MATCHES "(Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error: ")
  message(FATAL_ERROR "${PROGRAM} wrote a sanitizer report\n${report}")
endif()

string(REPLACE "|" "\n" expected "${EXPECTED}")
if(MODE STREQUAL "exact")
  string(APPEND expected "\n")
  if(NOT out STREQUAL expected)
    message(FATAL_ERROR "stdout is not exactly as expected\n--- expected:\n${expected}${report}")
  endif()
elseif(MODE STREQUAL "line")
  # Each wanted line must be a whole line of the output (no list splitting:
  # outputs may hold ';').
  string(REPLACE "|" ";" wanted "${EXPECTED}")
  foreach(line IN LISTS wanted)
    string(FIND "\n${out}" "\n${line}\n" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "stdout has no line '${line}'\n${report}")
    endif()
  endforeach()
else()
  message(FATAL_ERROR "check_output.cmake: unknown MODE '${MODE}'")
endif()
