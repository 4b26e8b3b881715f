"""TensorBoard log directories: tags and metadata, summary protos, the one writer, the
reader, the layouts other writers use, and the file-system layer (local paths and
URLs). TensorBoard's protobuf messages; never TensorFlow."""
