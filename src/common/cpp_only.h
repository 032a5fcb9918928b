// Included last by every source file of src/common. That code is plain C++,
// built into the worker and the clients as well as the extension, and
// covered by unit tests without a server: the compiler refuses a PostgreSQL
// header reaching it, directly or through another header.
#if defined(C_H) || defined(POSTGRES_H) || defined(POSTGRES_FE_H)
#error "src/common is plain C++: no PostgreSQL header may be included here"
#endif
