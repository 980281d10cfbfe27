# The command line reads a graph file by its content: opplan's graph JSON or an ONNX model, whatever
# the file is called (issue 15). Included by tests/tools/CMakeLists.txt (opplan_cli_test, ${data}).
set(_onnx "${data}/onnx/tiny_cnn.onnx")
# The same bytes under names that lie about the format.
configure_file("${_onnx}" "${CMAKE_CURRENT_BINARY_DIR}/tiny_cnn_named.json" COPYONLY)
configure_file("${data}/graph_small.json" "${CMAKE_CURRENT_BINARY_DIR}/graph_small_named.onnx" COPYONLY)

opplan_cli_test(NAME graph_format.neither EXIT 1 ARGS validate "${data}/onnx/not_onnx.onnx" STDOUT_EMPTY
  STDERR "not_onnx\\.onnx: not a graph file: expected an opplan graph JSON file .* or an ONNX model")
opplan_cli_test(NAME graph_format.json_named_onnx EXIT 0 ARGS info "${CMAKE_CURRENT_BINARY_DIR}/graph_small_named.onnx" --json
  JSON_EQ "graph.name=mlp-block" "graph.ops=7")
if(OPPLAN_HAVE_ONNX)
  opplan_cli_test(NAME graph_format.onnx_info EXIT 0 ARGS info "${_onnx}" --json JSON_EQ "graph.name=tiny-cnn")
  opplan_cli_test(NAME graph_format.onnx_named_json EXIT 0 ARGS validate "${CMAKE_CURRENT_BINARY_DIR}/tiny_cnn_named.json"
    STDOUT "ok: .*tiny_cnn_named\\.json: graph")
  opplan_cli_test(NAME graph_format.onnx_plan EXIT 0
    ARGS plan --graph "${_onnx}" --microbatches 2 --strategy operator-level --time-limit 30 --json
    STDERR_EMPTY JSON_EQ "graph=tiny-cnn" "micro_batches=2" "verified=ON")
  opplan_cli_test(NAME graph_format.onnx_shard EXIT 0 ARGS shard --graph "${_onnx}" --mesh 2x4 --json)
  opplan_cli_test(NAME graph_format.onnx_stages EXIT 0 ARGS stages --graph "${_onnx}" --microbatches 2 --json)
endif()
