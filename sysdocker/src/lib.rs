//! Running containers on System Docker and User Docker: daemon launch and the compose-style service engine (not built yet).
