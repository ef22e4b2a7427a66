DROP TABLE coa_request;
