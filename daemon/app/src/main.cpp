#include "daemon.h"

int main(int argc, char** argv) { return syslens::run_daemon(argc, argv); }
