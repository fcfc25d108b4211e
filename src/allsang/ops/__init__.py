"""Operations: backups and restores (more of running Allsang in production lives in docs/)."""
